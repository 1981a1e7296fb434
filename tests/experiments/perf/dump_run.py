"""Write one run of a sandbox HDF5 file as an .npz (for the peers' Python, which need not have h5py).

usage: dump_run.py RUN_FILE.h5 RUN_NAME OUT.npz
Keeps the loss and grad_norm/<W> series and the params_init/<W> and params/<W> matrices, under those names.
"""
import sys

import h5py
import numpy as np

path, name, out = sys.argv[1:4]
with h5py.File(path, "r") as f:
    run = f["runs"][name]
    keep = {"loss": run["loss"][:]}
    for group in ("grad_norm", "params_init", "params"):
        for w in run[group]:
            keep[f"{group}/{w}"] = run[group][w][:]
np.savez(out, **keep)
