"""The theory file (`sandbox theory`): /theory/{d_k,var_qk,var_qk_scaled} and /theory/<scale>/<stat>,
read and checked for the theory figures (sweep_figures.py)."""

import h5py
import numpy as np

from .guard import guarded
from .reader import DamagedFile, InputError, _first_line, check_extent, decode, open_h5
from .style import scale_sort_key


THEORY_STATS = ("max_weight_mean", "max_weight_median", "entropy_mean", "saturated_fraction",
                "jacobian_norm_mean", "jacobian_norm_median", "logit_grad_mean", "logit_grad_median")


class Theory:
    """The /theory group: d_k, var_qk, var_qk_scaled, keys, and per-scale statistics over d_k."""

    def __init__(self, path):
        # Read in a child process with a time and memory limit (guard.py), as run files are.
        self.__dict__.update(guarded(_read_theory, path))

    def _read(self, path):
        self.path = path
        self.warnings = []
        with open_h5(path, "theory", "theory") as f:
            try:
                t = f["theory"]
                if "d_k" not in t or not isinstance(t["d_k"], h5py.Dataset):
                    raise InputError(f"{path}: no /theory/d_k dataset")
                check_extent(path, "/theory/d_k", t["d_k"])
                self.d_k = np.asarray(t["d_k"][()], dtype=np.float64).reshape(-1)
                keys = decode(t.attrs["keys"]) if "keys" in t.attrs else None
                self.keys = int(keys) if keys is not None else None
                self.var_qk = self._series(t, "var_qk")
                self.var_qk_scaled = self._series(t, "var_qk_scaled")
                self.per_scale = {}
                for scale, g in t.items():
                    if isinstance(g, h5py.Group):
                        stats = {s: self._series(g, s) for s in g if isinstance(g[s], h5py.Dataset)}
                        stats = {s: v for s, v in stats.items() if v is not None}
                        if stats:
                            self.per_scale[scale] = stats
            except (OSError, KeyError, ValueError, TypeError) as exc:
                raise DamagedFile(f"{path}: damaged: unreadable theory data ({_first_line(exc)})") from None

    def _series(self, group, name):
        if name not in group:
            return None
        check_extent(self.path, group[name].name, group[name])
        values = np.asarray(group[name][()], dtype=np.float64).reshape(-1)
        if len(values) != len(self.d_k):
            self.warnings.append(f"{self.path}: {group.name}/{name} has {len(values)} values for "
                                 f"{len(self.d_k)} d_k values; ignored")
            return None
        return values

    def scales(self):
        return sorted(self.per_scale, key=scale_sort_key)


def _read_theory(path):
    """A Theory's fields, read in the guard's child process."""
    theory = Theory.__new__(Theory)
    theory._read(path)
    return theory.__dict__
