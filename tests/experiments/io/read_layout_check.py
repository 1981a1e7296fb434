#!/usr/bin/python3
"""Checks with h5py what sbx::io (experiments/src/io/h5_store.cpp) writes; used by tests/test_h5_store.cpp.

Run with /usr/bin/python3 (the interpreter that has h5py). Exit status 0 means the check passed;
otherwise the reason is printed on stderr and the status is 1.

  write3d FILE DSET B N D           write float64 data of shape (B, N, D), [b, i, k] = 100*b + 10*i + k
  matrix FILE DSET ROWS COLS        float64, shape (ROWS, COLS), [i, j] == 10*i + j + 0.5
  attr FILE OBJ NAME str VALUE      attribute is a Python str equal to VALUE
  attr FILE OBJ NAME int VALUE      attribute is a numpy int64 equal to VALUE
  attr FILE OBJ NAME float VALUE    attribute is a numpy float64 equal to VALUE
  series FILE DSET float|int N      1-D, length N, [k] == 1.5*k (float64) or 3*k (int64),
                                    gzip level 4, chunked, maxshape (None,)
"""
import sys

import h5py
import numpy as np


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def write3d(path, dset, b, n, d):
    b, n, d = int(b), int(n), int(d)
    bb, ii, kk = np.meshgrid(np.arange(b), np.arange(n), np.arange(d), indexing="ij")
    with h5py.File(path, "a") as f:
        f.create_dataset(dset, data=(100 * bb + 10 * ii + kk).astype(np.float64))


def matrix(path, dset, rows, cols):
    rows, cols = int(rows), int(cols)
    with h5py.File(path, "r") as f:
        data = f[dset]
        if data.shape != (rows, cols):
            fail(f"shape {data.shape}, expected {(rows, cols)}")
        if data.dtype != np.float64:
            fail(f"dtype {data.dtype}, expected float64")
        i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        if not np.array_equal(data[()], 10.0 * i + j + 0.5):
            fail(f"values differ:\n{data[()]}")


def attr(path, obj, name, kind, value):
    with h5py.File(path, "r") as f:
        got = f[obj].attrs[name]
    if kind == "str":
        if not isinstance(got, str):
            fail(f"attribute {name} is {type(got).__name__}, expected str")
        if got != value:
            fail(f"attribute {name} is {got!r}, expected {value!r}")
    elif kind == "int":
        if not isinstance(got, np.int64):
            fail(f"attribute {name} is {type(got).__name__}, expected numpy.int64")
        if got != int(value):
            fail(f"attribute {name} is {got}, expected {value}")
    elif kind == "float":
        if not isinstance(got, np.float64):
            fail(f"attribute {name} is {type(got).__name__}, expected numpy.float64")
        if got != float(value):
            fail(f"attribute {name} is {got}, expected {value}")
    else:
        fail(f"unknown kind {kind}")


def series(path, dset, kind, n):
    n = int(n)
    with h5py.File(path, "r") as f:
        data = f[dset]
        expected = 1.5 * np.arange(n) if kind == "float" else 3 * np.arange(n, dtype=np.int64)
        if data.dtype != expected.dtype:
            fail(f"dtype {data.dtype}, expected {expected.dtype}")
        if data.shape != (n,):
            fail(f"shape {data.shape}, expected {(n,)}")
        if not np.array_equal(data[()], expected):
            fail(f"values differ: {data[()]}")
        if data.compression != "gzip" or data.compression_opts != 4:
            fail(f"compression {data.compression} {data.compression_opts}, expected gzip 4")
        if data.chunks is None:
            fail("not chunked")
        if data.maxshape != (None,):
            fail(f"maxshape {data.maxshape}, expected (None,)")


COMMANDS = {"write3d": write3d, "matrix": matrix, "attr": attr, "series": series}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        fail(__doc__)
    try:
        COMMANDS[sys.argv[1]](*sys.argv[2:])
    except (KeyError, OSError, TypeError) as e:
        fail(f"{sys.argv[1]}: {e}")
