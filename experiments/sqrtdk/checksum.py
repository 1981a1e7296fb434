"""A run's checksum, as the sandbox writes it: the `checksum` attribute of a run group (and config_hash,
the hash of its configuration text, checked against that text).

CRC-32 (zlib.crc32) over the run's items in the byte order of their names (each attribute as "@<name>",
each dataset by its path below the run group), each as: its name in UTF-8, a 0 byte, a type byte (s string,
i int64, f float64, m matrix), a count as uint64 little-endian (the string's bytes, the values, or rows then
cols for a matrix) and its values (strings up to their first 0 byte; numbers little-endian; matrices row by
row). The checksum attribute itself is left out. results/README.md states the same; the sandbox computes it
in experiments/src/io/run_checksum.cpp. A run written before checksums has none, and is not checked.
"""

import struct
import zlib

import h5py
import numpy as np

CHECKSUM = "checksum"
MATRIX_GROUPS = ("params_init", "params")


def _attr_item(value):
    """(type byte, count, payload) of an attribute's value as the sandbox hashes it."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
    if isinstance(value, (bytes, np.bytes_)):
        data = bytes(value).split(b"\x00", 1)[0]
        return b"s", len(data), data
    if isinstance(value, str):
        data = value.encode("utf-8", errors="surrogateescape").split(b"\x00", 1)[0]
        return b"s", len(data), data
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return b"i", 1, struct.pack("<q", int(value))
    if isinstance(value, (float, np.floating)):
        return b"f", 1, struct.pack("<d", float(value))
    raise ValueError(f"attribute of unexpected type {type(value).__name__}")


def _datasets(group, prefix, out, depth=0):
    if depth > 8:
        raise ValueError(f"groups nested too deep at {group.name}")
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            _datasets(item, prefix + key + "/", out, depth + 1)
        elif isinstance(item, h5py.Dataset):
            out[prefix + key] = item


def compute(group, check_extent=None):
    """The checksum (8 hex digits) of an open run group. check_extent(name, dataset), when given, is
    called before each dataset is read (to refuse damaged extents before anything is allocated)."""
    items = {}
    for name, value in group.attrs.items():
        if name != CHECKSUM:
            items[("@" + name).encode("utf-8", errors="surrogateescape")] = _attr_item(value)
    datasets = {}
    _datasets(group, "", datasets)
    for name, dataset in datasets.items():
        if check_extent is not None:
            check_extent(dataset.name, dataset)
        if name.split("/", 1)[0] in MATRIX_GROUPS or dataset.ndim == 2:
            m = np.ascontiguousarray(np.asarray(dataset[()], dtype="<f8"))
            if m.ndim != 2:
                raise ValueError(f"dataset {name} is not a matrix")
            items[name.encode()] = (b"m", m.shape[0], struct.pack("<Q", m.shape[1]) + m.tobytes())
            continue
        values = np.asarray(dataset[()]).reshape(-1)
        kind = b"i" if values.dtype.kind in "iu" else b"f"
        values = values.astype("<i8" if kind == b"i" else "<f8")
        items[name.encode()] = (kind, values.size, values.tobytes())
    crc = 0
    for name in sorted(items):
        kind, count, payload = items[name]
        crc = zlib.crc32(name + b"\x00" + kind + struct.pack("<Q", count), crc)
        crc = zlib.crc32(payload, crc)
    return f"{crc:08x}"


def config_hash(text):
    """The 16 hex digits of the 64-bit FNV-1a hash of a configuration text: its `config_hash`."""
    h = 0xcbf29ce484222325
    for byte in text.encode("utf-8", errors="surrogateescape"):
        h = ((h ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def problem(group, check_extent=None):
    """None if the run group's checksum matches (or it has none: a run of an older version) and its
    config_hash is that of its config (when it has both), else what is wrong, in a few words."""
    if CHECKSUM in group.attrs:
        wrong = _checksum_problem(group, check_extent)
        if wrong:
            return wrong
    config, stored_hash = group.attrs.get("config"), group.attrs.get("config_hash")
    if isinstance(config, str) and isinstance(stored_hash, str) and config_hash(config) != stored_hash:
        return "attribute config_hash does not match config, so one of them changed after it was written"
    return None


def _checksum_problem(group, check_extent):
    stored = group.attrs[CHECKSUM]
    if isinstance(stored, (bytes, np.bytes_)):
        stored = bytes(stored).decode("ascii", errors="replace")
    if not isinstance(stored, str) or len(stored) != 8 or any(c not in "0123456789abcdef" for c in stored):
        return "attribute checksum is not 8 hex digits"
    computed = compute(group, check_extent)
    if computed != stored:
        return f"its content does not match its checksum: stored {stored}, computed {computed}, so it changed after it was written"
    return None
