#!/usr/bin/env python3
"""Every logged value of the runs in sweep files, stored as text and compared within a relative tolerance.

  values.py make FILE.h5...                   prints the reference (one line per series or attribute)
  values.py check REFERENCE [--rtol R] FILE.h5...
                                              exit 0 when every stored item matches, 1 naming those that do not
                                              (and printing the largest relative difference seen either way)

The bit-exact guard (checksums.py) holds on one CPU and build flavour only; this one holds on every CPU and
build (Release, ASan, with or without -march=native), since it allows what a different floating-point kernel
(another SIMD width, FMA or not) moves a number by. Integers, booleans and strings compare exactly.

Reference format, one item per line, tab-separated:
  <file stem>/<run>  <item>  <kind>  <shape>  <values>
item: a dataset's path below the run's group, or "@name" for an attribute; kind: f (floating point, compared
within the tolerance, or within a factor for the items of WITHIN_FACTOR), i (integer or boolean, exact),
s (string, exact, JSON-quoted); shape: comma-separated sizes ("" for a scalar); values: space-separated,
floats as %.17g (they round-trip). wall_seconds (a clock reading), checksum (the run's own, over
wall_seconds too) and sweep_ini (the INI text, comments included) are left out. Items that appear in a file but not in the reference (a series added later) are
ignored; an item that changes, disappears or changes shape fails.

A difference |x - r| counts against the larger of |r| and 1e-6 times the largest |value| of the same item, so
that an entry that is zero up to rounding (a gradient of a symmetric input, a mean of signed values) is not
held to a relative tolerance of its own rounding noise.
"""
import json
import os
import sys

import h5py
import numpy as np

import checksums  # next to this file, so on the path of a script run from here

# wall_seconds is a clock reading (and the run's checksum covers it); sweep_ini is the INI text as given
# (its comments included), not a result.
SKIPPED = {"@wall_seconds", "@checksum", "@sweep_ini"}
# Why 1e-11: the runs are 8 steps long, so a rounding difference has little room to grow. The SSE2 build
# without -march=native and without FMA (the kernels of tests/run.sh's sanitizer pass) against the AVX-512/FMA
# build that made values.txt: at most 2e-13 relative (grad_norm/scale; the parameters 4e-14, the losses and
# metrics below 1e-15). 1e-11 leaves a factor of 50 for other compilers and CPUs and is still a factor of 100
# below a change of 1e-9 relative in one logged number, which fails the check.
DEFAULT_RTOL = 1e-11
FLOOR = 1e-6
# The gradient check's largest error is a difference of nearly equal central differences: rounding noise of
# the order of 1e-9, which another kernel moves by tens of percent (measured: up to 58% between the AVX-512/FMA
# and the SSE2 builds). It is held to its order of magnitude (a factor of 10 either way), which a wrong
# gradient (an error of 1e-3 and up) still breaks.
WITHIN_FACTOR = {"@gradcheck_max_error": 10.0}


def encode(value):
    """(kind, shape, text) of an attribute's or dataset's value."""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        return "s", "", json.dumps(value)
    a = np.asarray(value)
    if a.dtype.kind in "SUO":
        return "s", ",".join(map(str, a.shape)), json.dumps([str(x) for x in a.ravel()])
    shape = ",".join(map(str, a.shape))
    if a.dtype.kind == "f":
        return "f", shape, " ".join("%.17g" % x for x in a.ravel())
    return "i", shape, " ".join(str(int(x)) for x in a.ravel())


def runs(paths):
    found = {}
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        with h5py.File(path, "r") as f:
            for name in sorted(f["runs"].keys()):
                found[stem + "/" + name] = checksums.items(f["runs"][name], encode, SKIPPED)
    return found


def make(paths):
    for key, its in runs(paths).items():
        for item in sorted(its):
            kind, shape, text = its[item]
            print("\t".join((key, item, kind, shape, text)))


def relative_difference(want_text, got_text):
    """Largest |got - want| / max(|want|, FLOOR * max|want|) over the entries (inf where NaN differs)."""
    want = np.array([float(x) for x in want_text.split()]) if want_text else np.zeros(0)
    got = np.array([float(x) for x in got_text.split()]) if got_text else np.zeros(0)
    if want.size == 0:
        return 0.0
    same_nan = np.isnan(want) & np.isnan(got)
    same_inf = np.isinf(want) & (want == got)
    exact = same_nan | same_inf
    if np.any(np.isnan(want) != np.isnan(got)) or np.any(np.isinf(want) != np.isinf(got)):
        return float("inf")
    finite = ~exact
    if not np.any(finite):
        return 0.0
    w, g = want[finite], got[finite]
    scale = np.maximum(np.abs(w), FLOOR * np.max(np.abs(w)))
    diff = np.abs(g - w)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(diff == 0, 0.0, diff / scale)
    return float(np.max(rel))


def check(reference, rtol, paths):
    found = runs(paths)
    bad, worst, worst_at, count = [], 0.0, "", 0
    with open(reference) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            key, item, kind, shape, text = line.rstrip("\n").split("\t")
            count += 1
            got = found.get(key, {}).get(item)
            if key not in found:
                bad.append(f"{key}: missing run")
                continue
            if got is None:
                bad.append(f"{key} {item}: missing")
                continue
            if got[0] != kind or got[1] != shape:
                bad.append(f"{key} {item}: {got[0]} of shape ({got[1]}), want {kind} of shape ({shape})")
                continue
            if kind != "f":
                if got[2] != text:
                    bad.append(f"{key} {item}: {got[2][:80]} want {text[:80]}")
                continue
            if item in WITHIN_FACTOR:
                want, have, factor = float(text), float(got[2]), WITHIN_FACTOR[item]
                if not (want / factor <= have <= want * factor):
                    bad.append(f"{key} {item}: {have:.3g}, want within a factor {factor:g} of {want:.3g}")
                continue
            rel = relative_difference(text, got[2])
            if rel > worst:
                worst, worst_at = rel, f"{key} {item}"
            if rel > rtol:
                bad.append(f"{key} {item}: relative difference {rel:.3g} > {rtol:g}")
    seen = {line.split("\t")[0] for line in open(reference) if line.strip() and not line.startswith("#")}
    for line in sorted(set(bad))[:40]:
        print(line)
    print(f"largest relative difference {worst:.3g}" + (f" ({worst_at})" if worst_at else ""))
    print(f"{count - len(bad)} of {count} items of {len(seen)} runs within {rtol:g}")
    return 1 if bad else 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "make":
        make(argv[1:])
        return 0
    if len(argv) >= 3 and argv[0] == "check":
        reference, rest, rtol = argv[1], argv[2:], DEFAULT_RTOL
        if rest and rest[0] == "--rtol":
            rtol, rest = float(rest[1]), rest[2:]
        if rest:
            return check(reference, rtol, rest)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
