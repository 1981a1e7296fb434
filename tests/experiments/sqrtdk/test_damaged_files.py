#!/usr/bin/env python3
"""The reader on damaged run files: every variant gives a normal result or the package's one-line
InputError (DamagedFile), never a crash, a hang or a foreign exception; a file whose dataset claims
billions of elements is refused in under 100 MB.

    PYTHONPATH=experiments $PY tests/experiments/sqrtdk/test_damaged_files.py SANDBOX [VARIANTS]

The variants are random (byte flips, truncations, zeroed ranges; most aimed at HDF5's metadata, where
damage matters) from a seed printed first; SQRTDK_FUZZ_SEED=N repeats a run. Reading happens in this
process: a crash in libhdf5 that the reader let through would end the test.
"""

import os
import random
import resource
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

import sqrtdk
from sqrtdk import reader

SANDBOX = sys.argv[1]
VARIANTS = int(sys.argv[2]) if len(sys.argv) > 2 else 320
# Hangs are cut at this many seconds (the default allows a minute); short, so the test stays short.
os.environ.setdefault("SQRTDK_READ_TIMEOUT", "4")
CLAIMED = (8, 3_120_562_180)      # the damaged extent of the report: 100 GB as float32
RSS_LIMIT_KB = 100 * 1024
REFUSALS = {}   # how many refusals were a crash or a hang of the reading child

INI = """[grid]
task = teacher recall
seed = 0
[run]
d-model = 8
dk = 4
seq-len = 6
batch = 4
steps = 12
"""


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


def make_base(tmp):
    ini = os.path.join(tmp, "base.ini")
    with open(ini, "w") as f:
        f.write(INI)
    base = os.path.join(tmp, "base.h5")
    subprocess.run([SANDBOX, "sweep", "--config", ini, "--out", base, "--quiet", "--jobs", "1"], check=True,
                   stdout=subprocess.DEVNULL)
    return base


def data_ranges(path):
    """(offset, size) of every dataset's raw data: the rest of the file is HDF5's metadata."""
    ranges = []

    def visit(_, obj):
        if not isinstance(obj, h5py.Dataset):
            return
        if obj.chunks is None:
            offset = obj.id.get_offset()
            if offset is not None:
                ranges.append((offset, obj.id.get_storage_size()))
        else:
            for i in range(obj.id.get_num_chunks()):
                info = obj.id.get_chunk_info(i)
                ranges.append((info.byte_offset, info.size))

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return ranges


def metadata_offsets(size, ranges):
    data = np.zeros(size, dtype=bool)
    for offset, length in ranges:
        data[offset:offset + length] = True
    return np.flatnonzero(~data)


def damage(blob, rng, meta):
    """(description, damaged bytes): a flip, a truncation or a zeroed range, mostly in metadata."""
    b = bytearray(blob)
    where = lambda: int(meta[rng.randrange(len(meta))]) if rng.random() < 0.85 else rng.randrange(len(b))
    kind = rng.choice(["flip", "flip", "flips", "truncate", "zero"])
    if kind == "flip":
        at = where()
        b[at] ^= rng.randrange(1, 256)
        return f"flip byte {at}", bytes(b)
    if kind == "flips":
        spots = [where() for _ in range(rng.randrange(2, 9))]
        for at in spots:
            b[at] ^= rng.randrange(1, 256)
        return f"flip bytes {spots}", bytes(b)
    if kind == "truncate":
        at = rng.randrange(len(b))
        return f"truncate to {at} bytes", bytes(b[:at])
    at, length = where(), rng.choice([1, 8, 64, 512, 4096])
    b[at:at + length] = bytes(len(b[at:at + length]))
    return f"zero {length} bytes at {at}", bytes(b)


def check_one_line(what, exc):
    text = str(exc)
    if "\n" in text or not text.strip():
        fail(f"{what}: the error is not one line: {text!r}")


def read_in_process(path, what):
    """'ok', 'refused' or a failure (the test stops)."""
    start = time.monotonic()
    try:
        sqrtdk.load_runs(path)
        outcome = "ok"
    except sqrtdk.InputError as exc:
        check_one_line(what, exc)
        outcome = "refused"
        for kind, text in (("crashed", "crashed libhdf5"), ("hung", "took longer than")):
            if text in str(exc):
                REFUSALS[kind] = REFUSALS.get(kind, 0) + 1
    except BaseException as exc:  # a foreign exception: what the reader must never let out
        fail(f"{what}: {type(exc).__module__}.{type(exc).__name__}: {exc}")
    if time.monotonic() - start > float(os.environ["SQRTDK_READ_TIMEOUT"]) + 5:
        fail(f"{what}: took {time.monotonic() - start:.1f} s, past the read timeout")
    return outcome


def cli_check(path, what):
    r = subprocess.run([sys.executable, "-m", "sqrtdk", "table", path], capture_output=True, text=True)
    if r.returncode not in (0, 2):
        fail(f"{what}: `sqrtdk table` exit {r.returncode}: {r.stderr[-400:]}")
    if r.returncode == 2 and (r.stderr.count("\n") != 1 or "Traceback" in r.stderr):
        fail(f"{what}: `sqrtdk table` error is not one line: {r.stderr!r}")


def make_extent_files(tmp, base):
    """Two small files claiming CLAIMED: as a weight matrix (which the reader does not read) and as a
    series (which it does), as chunked datasets with no chunk written: HDF5 takes the claim at its word."""
    with h5py.File(base, "r") as f:
        name = sorted(f["runs"])[0]
        attrs = dict(f["runs"][name].attrs)
    paths = []
    for kind in ("matrix", "series"):
        path = os.path.join(tmp, f"extent_{kind}.h5")
        with h5py.File(path, "w") as f:
            g = f.create_group(f"runs/{name}")
            g.attrs.update(attrs)
            g.create_dataset("step", data=np.arange(3, dtype=np.int64))
            if kind == "matrix":
                g.create_dataset("loss", data=np.ones(3, dtype=np.float32))
                g.create_dataset("params/W_Q", shape=CLAIMED, dtype=np.float32, chunks=(8, 1024))
            else:
                g.create_dataset("loss", shape=(CLAIMED[0] * CLAIMED[1],), dtype=np.float32, chunks=(4096,))
        paths.append(path)
    return paths


def peak_rss_kb(path):
    """The peak RSS (kB) of reading `path` in a fresh interpreter: its own and the reading child's."""
    code = ("import resource, sys, sqrtdk\n"
            "try:\n    sqrtdk.load_runs(sys.argv[1]); print('ok')\n"
            "except sqrtdk.InputError as e:\n    print('refused:', e)\n"
            "print(max(resource.getrusage(w).ru_maxrss for w in "
            "(resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))\n")
    r = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True)
    lines = r.stdout.splitlines()
    if r.returncode != 0 or len(lines) != 2:
        fail(f"{path}: reading it in a fresh interpreter: exit {r.returncode}: {r.stdout}{r.stderr[-400:]}")
    return lines[0], int(lines[1])


def main():
    seed = int(os.environ.get("SQRTDK_FUZZ_SEED", random.SystemRandom().randrange(1 << 31)))
    print(f"seed {seed} (SQRTDK_FUZZ_SEED={seed} repeats this run); {VARIANTS} variants", flush=True)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="sqrtdk-damaged-") as tmp:
        base = make_base(tmp)
        if read_in_process(base, "the undamaged file") != "ok":
            fail("the undamaged file is refused")
        with open(base, "rb") as f:
            blob = f.read()
        meta = metadata_offsets(len(blob), data_ranges(base))

        for path in make_extent_files(tmp, base):
            outcome, kb = peak_rss_kb(path)
            print(f"{os.path.basename(path)}: {outcome}; peak RSS {kb / 1024:.0f} MB")
            if kb > RSS_LIMIT_KB:
                fail(f"{path}: reading it took {kb / 1024:.0f} MB (limit {RSS_LIMIT_KB // 1024} MB)")
            if "series" in path and not outcome.startswith("refused"):
                fail(f"{path}: a series claiming {CLAIMED} elements was not refused")
            cli_check(path, os.path.basename(path))

        counts = {"ok": 0, "refused": 0}
        start = time.monotonic()
        path = os.path.join(tmp, "damaged.h5")
        for i in range(VARIANTS):
            what, data = damage(blob, rng, meta)
            with open(path, "wb") as f:
                f.write(data)
            what = f"variant {i} (seed {seed}): {what}"
            counts[read_in_process(path, what)] += 1
            if i % 40 == 0:
                cli_check(path, what)
        print(f"{VARIANTS} damaged variants in {time.monotonic() - start:.1f} s: {counts['ok']} read normally, "
              f"{counts['refused']} refused with one line (of which {REFUSALS.get('crashed', 0)} crashed and "
              f"{REFUSALS.get('hung', 0)} hung the reading child); no crash, hang or foreign exception here")
        if counts["refused"] == 0:
            fail("no variant was refused: the damage did not reach HDF5's metadata")


if __name__ == "__main__":
    main()
