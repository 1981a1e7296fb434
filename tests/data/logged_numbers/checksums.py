#!/usr/bin/env python3
"""Checksums of every logged number of the runs in sweep files, to compare two builds bit for bit.

  checksums.py make FILE.h5...            prints the checksum file (one line per run)
  checksums.py check EXPECTED FILE.h5...  exit 0 when every run's checksum matches, 1 naming the runs that differ

A run's checksum is a SHA-256 over every dataset (dtype, shape, raw bytes) and every attribute (its bytes) of
the run's group, except wall_seconds (a clock reading) and checksum (the run's own, over wall_seconds too). The names covered are stored in the file's first
line, so that an item added later (a new series) is ignored rather than failing; an item that changes,
disappears or is renamed changes the checksum.
"""
import hashlib
import os
import sys

import h5py
import numpy as np

SKIPPED = {"@wall_seconds", "@checksum"}


def value_bytes(v):
    if isinstance(v, bytes):
        return b"b:" + v
    if isinstance(v, str):
        return b"s:" + v.encode()
    a = np.asarray(v)
    return a.dtype.str.encode() + repr(a.shape).encode() + a.tobytes()


def items(run, encode=value_bytes, skipped=SKIPPED):
    """{relative name: encode(value)} of every dataset and attribute below a run's group (attributes as
    '@name'), except the names in skipped. values.py walks runs with its own encode."""
    out = {}

    def visit(prefix, group):
        for k, v in group.attrs.items():
            out[prefix + "@" + k] = encode(v)
        for k, obj in group.items():
            if isinstance(obj, h5py.Group):
                visit(prefix + k + "/", obj)
            else:
                out[prefix + k] = encode(obj[()])

    visit("", run)
    return {k: v for k, v in out.items() if k not in skipped}


def runs(paths):
    """[(key, {item: bytes})] for every run of every file; key = file stem / run name."""
    found = []
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        with h5py.File(path, "r") as f:
            for name in sorted(f["runs"].keys()):
                found.append((stem + "/" + name, items(f["runs"][name])))
    return found


def digest(run_items, covered):
    h = hashlib.sha256()
    for name in sorted(n for n in run_items if n in covered):
        h.update(name.encode() + b"\0" + run_items[name] + b"\0")
    return h.hexdigest()[:32]


def main(argv):
    if len(argv) >= 2 and argv[0] == "make":
        found = runs(argv[1:])
        covered = sorted({n for _, it in found for n in it})
        print("# covered: " + " ".join(covered))
        for key, it in found:
            print(key, digest(it, set(covered)))
        return 0
    if len(argv) >= 3 and argv[0] == "check":
        with open(argv[1]) as f:
            lines = f.read().splitlines()
        covered = set(lines[0][len("# covered: "):].split())
        expected = dict(line.split() for line in lines[1:] if line.strip() and not line.startswith("#"))
        found = dict(runs(argv[2:]))
        bad = []
        for key, want in expected.items():
            if key not in found:
                bad.append(key + ": missing")
            elif digest(found[key], covered) != want:
                bad.append(key + ": differs")
        for line in bad:
            print(line)
        print(f"{len(expected) - len(bad)} of {len(expected)} runs identical")
        return 1 if bad else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
