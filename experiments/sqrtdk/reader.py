"""Read the sandbox's run files (`sandbox train`, `sweep`, `merge`) into Python: run records, filters, a table.

As a library (h5py and NumPy; pandas only for `table`), with the package installed (`pip install -e
experiments`) or run from the checkout with PYTHONPATH=experiments:

    from sqrtdk import load, load_runs, where, table, sweep_grids
    df = load(["results/sqrt_dk.h5", "more_runs.h5"])       # pandas DataFrame, one row per run (see `table`)
    df = load("results/sqrt_dk.h5", task="teacher", lr=1e-2)  # only the runs that match (as `where`)
    runs = load_runs(["results/sqrt_dk.h5"])                # the Run records themselves
    runs = where(runs, task="teacher", scale=["none", "sqrt"], lr=1e-2, status="complete")
    run = runs[0]
    run.file, run.name            # the file it came from, its group name under /runs
    run.attrs["d_k"], run["lr"]   # its attributes (str, int or float)
    run.series["loss"]            # its series as NumPy arrays: "step", "loss", "grad_norm/W_Q", "eval/loss" ...
    run.sweep_grid                # (INI text, overrides) of the sweep that wrote it; None for `sandbox train`
    sweep_grids(runs)  # [(INI text, overrides, [runs]), ...]: the distinct grids behind the runs
    df = table(runs)   # the DataFrame of these runs
    df.to_csv("runs.csv", index=False)

`where` also takes the command line's "key=value" texts: `where(runs, **parse_where(["lr=0.01",
"scale=none,sqrt"]))`; numbers are compared as numbers (lr=1e-2 matches 0.01), a comma means "any of".

The table has the columns `file`, `run`, every attribute (but the sweep's INI text and overrides), and
each run's final metrics:
  train_step, train_loss, train_accuracy   last entry of the training series step, loss, accuracy (the last
                                           logged training batch; accuracy only for classification tasks)
  eval_step, eval_loss, eval_accuracy      last entry of eval/step, eval/loss, eval/accuracy (the held-out
                                           evaluation), when the run has them
  final_loss, final_accuracy               the eval_ values when the run has an eval/loss series, else the
  final_source                             train_ ones; final_source says which: "eval" or "train"
Missing values are NaN.

From the command line (exit 2 and one line on stderr for bad input):

    python3 -m sqrtdk table FILES... [--where KEY=VALUE]... [--csv OUT.csv] [--force]

prints the table of the runs that match every --where (or writes it as CSV to OUT.csv, which must not
exist unless --force; "-" is stdout). Run it with the interpreter experiments/find_python.sh prints, from
experiments/ or with PYTHONPATH=experiments.

Series: every 1-D dataset of a run group except params/ and params_init/. The series of one time axis
(the training series and `step`; eval/* and `eval/step`) are truncated to their shortest, so a run being
written or cut short never has ragged arrays. Strings are returned as `str`, fixed- or variable-length.
"""

import argparse
import math
import os
import sys
import tempfile

import h5py
import numpy as np

from . import checksum, names
from .guard import DamagedFile, InputError, first_line, guarded

# The names of the run-file layout this reader relies on. The layout is defined in
# experiments/src/io/layout.hpp (`sandbox layout` prints it); tests/experiments/sqrtdk/test_layout.py checks that these
# agree with it, role by role.
RUNS_GROUP = "runs"
STEP, LOSS, ACCURACY = "step", "loss", "accuracy"
EVAL_STEP, EVAL_LOSS, EVAL_ACCURACY = "eval/step", "eval/loss", "eval/accuracy"
# Attributes that are a run's outcome, not its settings: they differ between runs of one configuration (the
# checksum too: it covers wall_seconds).
OUTCOME_ATTRS = ("status", "gradcheck_max_error", "wall_seconds", "diverged_step", "diverged_reason", "checksum")
# Attributes derived from the settings (the canonical configuration text and its hash): they differ
# exactly when a setting does, so comparing runs looks at the settings themselves.
DERIVED_ATTRS = ("config", "config_hash")
# Attributes saying where a run came from (the sweep's INI text and command-line overrides): the same
# configuration may come from two sweeps, so they are not settings either.
SWEEP_INI, SWEEP_OVERRIDES = "sweep_ini", "sweep_overrides"
PROVENANCE_ATTRS = (SWEEP_INI, SWEEP_OVERRIDES)
# Every attribute that is not a setting: runs that differ only in these are runs of one configuration.
NOT_SETTINGS = OUTCOME_ATTRS + DERIVED_ATTRS + PROVENANCE_ATTRS
# Groups of a run that hold matrices, not series.
MATRIX_GROUPS = ("params_init", "params")
# Table columns, in this order (then the other attributes, sorted).
LEADING_ATTRS = ("task", "model", "scale", "d_k", "seed", "lr", "optimizer", "status")
FINAL_COLUMNS = ("train_step", "train_loss", "train_accuracy", "eval_step", "eval_loss", "eval_accuracy",
                 "final_loss", "final_accuracy", "final_source")


# InputError: bad files or options (one line, exit 2 on the command line). DamagedFile, one of them: a file
# HDF5 cannot read, crashes or loops on, or whose sizes cannot be. Every file is read in a child process
# with a time and memory limit (guard.py), so a damaged file never crashes or hangs the caller.
_first_line = first_line


def decode(value):
    """An HDF5 attribute as a plain Python value: str for any string, int/float for numeric scalars."""
    if isinstance(value, np.ndarray):
        if value.size != 1:
            return value
        value = value.reshape(-1)[0]
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", errors="replace").rstrip("\x00")
    if isinstance(value, np.generic):
        return value.item()
    return value


class Run:
    """One run: where it came from, its attributes and its series (NumPy arrays)."""

    def __init__(self, file, name, attrs, series):
        self.file = file
        self.name = name
        self.attrs = attrs
        self.series = series

    def __getitem__(self, key):
        return self.attrs[key]

    def get(self, key, default=None):
        return self.attrs.get(key, default)

    @property
    def status(self):
        return self.attrs.get("status")

    @property
    def sweep_grid(self):
        """(INI text as read, command-line overrides) of the sweep that wrote the run, or None for a run of
        `sandbox train` (or of a version before sweeps recorded it). Overrides: one `--grid.KEY=VALUE` or
        `--run.KEY=VALUE` per line, "" for none."""
        if SWEEP_INI not in self.attrs:
            return None
        return self.attrs[SWEEP_INI], self.attrs.get(SWEEP_OVERRIDES, "")

    def has(self, key):
        return key in self.series and len(self.series[key]) > 0

    def last(self, key):
        """The last entry of series `key` as a float, or NaN when the run has no such series."""
        return float(self.series[key][-1]) if self.has(key) else math.nan

    def final_metrics(self):
        """The table's final-metric columns for this run (see the module's docstring)."""
        m = {"train_step": self.last(STEP), "train_loss": self.last(LOSS),
             "train_accuracy": self.last(ACCURACY), "eval_step": self.last(EVAL_STEP),
             "eval_loss": self.last(EVAL_LOSS), "eval_accuracy": self.last(EVAL_ACCURACY)}
        source = "eval" if self.has(EVAL_LOSS) else "train"
        m["final_loss"] = m[f"{source}_loss"]
        m["final_accuracy"] = m[f"{source}_accuracy"]
        m["final_source"] = source
        return m

    def __repr__(self):
        return f"Run({self.file!r}, {self.name!r})"


# Deflate, the strongest filter HDF5 ships, compresses at most ~1032:1: a dataset claiming more bytes
# than this many times the file's size is a damaged extent, refused before anything is allocated for it.
MAX_COMPRESSION = 1100
# Run groups nest two or three deep (eval/loss, grad_norm/W_Q); deeper is a damaged link loop.
MAX_DEPTH = 8


def check_extent(path, name, dataset):
    """DamagedFile when `dataset` claims more bytes than the file can hold (a damaged dataspace would
    otherwise make h5py allocate them: a 300 KB file can claim 100 GB)."""
    if dataset.dtype.kind not in "biufc":
        return
    claimed = int(dataset.size) * dataset.dtype.itemsize
    file_size = os.path.getsize(path)
    filtered = dataset.id.get_create_plist().get_nfilters() > 0
    if claimed > file_size * (MAX_COMPRESSION if filtered else 1) + 4096:
        raise DamagedFile(f"{path}: damaged: dataset {name} claims shape {tuple(dataset.shape)} "
                          f"({claimed} bytes) in a file of {file_size} bytes")


def _collect_series(path, group, prefix, out, depth=0):
    if depth > MAX_DEPTH:
        raise DamagedFile(f"{path}: damaged: groups nested deeper than {MAX_DEPTH} at {group.name}")
    for key, item in group.items():
        if not prefix and key in MATRIX_GROUPS:
            continue
        if isinstance(item, h5py.Group):
            _collect_series(path, item, prefix + key + "/", out, depth + 1)
        elif isinstance(item, h5py.Dataset) and item.ndim == 1:
            check_extent(path, item.name, item)
            out[prefix + key] = np.asarray(item[()])


def _time_axis(key, series):
    """The series' time axis: the top-level group it is in when that group has its own `step`, else ""."""
    head = key.split("/", 1)[0]
    return head if "/" in key and f"{head}/{STEP}" in series else ""


def _equal_lengths(series):
    shortest = {}
    for key, values in series.items():
        axis = _time_axis(key, series)
        shortest[axis] = min(shortest.get(axis, len(values)), len(values))
    return {k: v[:shortest[_time_axis(k, series)]] for k, v in series.items()}


def open_h5(path, group, kind):
    """`path` opened read-only, checked to be an HDF5 file with the top-level `group` (a `kind` file: "run",
    "theory"); InputError, one line naming the file, otherwise. The plot scripts open theory files with it."""
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, expected an HDF5 {kind} file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: not readable")
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({_first_line(exc)})") from None
    if not is_hdf5:
        raise InputError(f"{path}: not an HDF5 file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DamagedFile(f"{path}: damaged: cannot open as HDF5 ({_first_line(exc)})") from None
    if group not in f or not isinstance(f[group], h5py.Group):
        f.close()
        raise InputError(f"{path}: no /{group} group, so not a {kind} file")
    return f


def open_run_file(path):
    """`path` opened read-only, checked to be an HDF5 file with a /runs group; InputError otherwise."""
    return open_h5(path, RUNS_GROUP, "run")


def read_file(path):
    """(the file's root attributes, [Run, ...]) for one run file, runs sorted by name. Read in a child
    process (guard.py): a damaged file is a DamagedFile, never a crash or a hang of the caller."""
    return guarded(_read_file, path)


def _read_file(path):
    with open_run_file(path) as f:
        try:
            file_attrs = {k: decode(v) for k, v in f.attrs.items()}
            runs = []
            for name, group in sorted(f[RUNS_GROUP].items()):
                if not isinstance(group, h5py.Group):
                    continue
                series = {}
                _collect_series(path, group, "", series)
                attrs = {k: decode(v) for k, v in group.attrs.items()}
                wrong = checksum.problem(group, lambda where, dataset: check_extent(path, where, dataset))
                if wrong:
                    raise DamagedFile(f"{path}: damaged: run {name!r}: {wrong} (`sandbox merge --skip-damaged NEW.h5 "
                                      f"{path}` keeps the other runs)")
                runs.append(Run(path, name, attrs, _equal_lengths(series)))
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise DamagedFile(f"{path}: damaged: unreadable run data ({_first_line(exc)})") from None
    return file_attrs, runs


def load_runs(paths):
    """Every run (a Run record) of one file (a path) or of several (a list of paths), in the order given."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    runs = []
    for path in paths:
        runs += read_file(os.fspath(path))[1]
    return runs


def load(paths, **criteria):
    """The table (a pandas DataFrame, one row per run) of the runs of `paths` that match `criteria` (as
    in `where`); every run without criteria."""
    return table(where(load_runs(paths), **criteria))


# A loss above this many times the run's first loss (or not finite) is a run that blew up: the sandbox's
# default --diverge-factor, which stops such a run and records it "diverged" with the step
# (`diverged_step`). Older files, and runs made with --diverge-factor 0 or a larger one, may hold runs that
# reached 1e271 and still say "complete": they are diverged here too.
DIVERGED_FACTOR = 100.0


def diverged_at(run):
    """The step at which `run` diverged (its `diverged_step`, else a non-finite loss or one over
    DIVERGED_FACTOR x its first, else the last logged step of a run whose status is "diverged"), or None
    for a run that did not."""
    if run.status == "diverged" and _is_number(run.attrs.get("diverged_step")):
        return float(run.attrs["diverged_step"])
    steps = run.series.get(STEP)
    loss = run.series.get(LOSS)
    if loss is not None and len(loss):
        loss = np.asarray(loss, dtype=np.float64)
        first = abs(loss[0]) if np.isfinite(loss[0]) and loss[0] != 0 else 1.0
        bad = np.flatnonzero(~np.isfinite(loss) | (np.abs(loss) > DIVERGED_FACTOR * first))
        if len(bad):
            i = int(bad[0])
            return float(steps[i]) if steps is not None and i < len(steps) else float(i)
    if run.status == "diverged":
        return float(steps[-1]) if steps is not None and len(steps) else 0.0
    return None


def series_at(run, key, step):
    """Series `key` of `run` at training step `step` ("end": the last logged step); NaN when the run has no
    such series or did not log that step."""
    if not run.has(key):
        return math.nan
    steps = run.series[STEP]
    if step == "end":
        return float(run.series[key][-1])
    i = int(np.searchsorted(steps, step))
    return float(run.series[key][i]) if i < len(steps) and steps[i] == step else math.nan


# ---- Filters -------------------------------------------------------------------------------------------

def parse_where(texts):
    """["lr=0.01", "scale=none,sqrt"] -> {"lr": ["0.01"], "scale": ["none", "sqrt"]}; InputError if malformed."""
    criteria = {}
    for text in texts or []:
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key or value == "":
            raise InputError(f"--where {text!r}: expected KEY=VALUE (or KEY=V1,V2 for any of several)")
        criteria.setdefault(key, []).extend(v.strip() for v in value.split(","))
    return criteria


def _is_number(x):
    return isinstance(x, (int, float, np.number)) and not isinstance(x, bool)


def _same(have, wanted, key):
    if _is_number(have):
        try:
            wanted = float(wanted)
        except (TypeError, ValueError):
            raise InputError(f"--where {key}={wanted}: {key} is a number in the runs, {wanted!r} is not") from None
        return have == wanted or math.isclose(float(have), wanted, rel_tol=1e-12, abs_tol=0.0)
    return str(have) == str(wanted)


def where(runs, **criteria):
    """The runs whose attribute `key` equals `value` (or any of a list/tuple of values) for every key.

    Keys in either spelling (d_model or d-model, d_k or dk). A key that no run has is an InputError
    naming the closest attributes (a typo would otherwise select nothing, silently)."""
    runs = list(runs)
    known = set().union(*(r.attrs for r in runs)) if runs else set()
    if runs:
        criteria = {names.resolve(key, known, "an attribute", f"--where {key}=..."): wanted
                    for key, wanted in criteria.items()}
    selected = []
    for run in runs:
        ok = True
        for key, wanted in criteria.items():
            options = wanted if isinstance(wanted, (list, tuple, set)) else [wanted]
            if key not in run.attrs or not any(_same(run.attrs[key], w, key) for w in options):
                ok = False
                break
        if ok:
            selected.append(run)
    return selected


def values_of(runs, key):
    """The distinct values of attribute `key` over `runs` (missing shown as None), sorted."""
    return sorted({r.attrs.get(key) for r in runs}, key=lambda v: (v is None, str(type(v)), v))


def sweep_grids(runs):
    """The distinct sweep grids behind `runs`: [(ini_text, overrides, [run, ...]), ...] in order of first
    appearance; runs of `sandbox train` are left out. A merged file holds one per sweep (or shard) that
    wrote its runs."""
    grids = {}
    for run in runs:
        grid = run.sweep_grid
        if grid is not None:
            grids.setdefault(grid, []).append(run)
    return [(ini, overrides, members) for (ini, overrides), members in grids.items()]


def varying(runs, ignore=NOT_SETTINGS):
    """{attribute: [distinct values]} for the attributes that differ between `runs` (outcomes ignored)."""
    keys = set().union(*(r.attrs for r in runs)) if runs else set()
    out = {}
    for key in sorted(keys - set(ignore)):
        values = values_of(runs, key)
        if len(values) > 1:
            out[key] = values
    return out


def fixed(runs, ignore=NOT_SETTINGS):
    """{attribute: value} for the attributes every run has with one and the same value."""
    keys = set().union(*(r.attrs for r in runs)) if runs else set()
    out = {}
    for key in sorted(keys - set(ignore)):
        values = values_of(runs, key)
        if len(values) == 1 and values[0] is not None:
            out[key] = values[0]
    return out


def format_value(value):
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# ---- Table ---------------------------------------------------------------------------------------------

def table(runs):
    """A pandas DataFrame, one row per run: file, run, the attributes, then the final metrics."""
    try:
        import pandas as pd
    except ImportError:
        raise InputError("pandas is not installed for this interpreter (experiments/install_deps.sh plots "
                         "installs Debian's python3-pandas)") from None
    keys = set().union(*(r.attrs for r in runs)) if runs else set()
    keys -= set(PROVENANCE_ATTRS)  # the sweep's INI text: per run in run.sweep_grid, per file in sweep_grids()
    attr_columns = [k for k in LEADING_ATTRS if k in keys] + sorted(keys - set(LEADING_ATTRS))
    rows = []
    for run in runs:
        row = {"file": run.file, "run": run.name}
        row.update({k: run.attrs.get(k) for k in attr_columns})
        row.update(run.final_metrics())
        rows.append(row)
    return pd.DataFrame(rows, columns=["file", "run"] + attr_columns + list(FINAL_COLUMNS))


# ---- Command line --------------------------------------------------------------------------------------

def _write_csv(df, out, force):
    if out == "-":
        df.to_csv(sys.stdout, index=False)
        return
    if os.path.isdir(out):
        raise InputError(f"--csv {out}: is a directory")
    if os.path.exists(out) and not force:
        raise InputError(f"--csv {out}: exists (give --force to replace it)")
    directory = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(directory):
        raise InputError(f"--csv {out}: directory {directory} does not exist")
    # Written next to OUT and renamed into place: OUT is never half-written.
    fd, tmp = tempfile.mkstemp(prefix=".sqrtdk-table.", suffix=".csv", dir=directory)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            df.to_csv(f, index=False)
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv=None):
    t = argparse.ArgumentParser(prog="sqrtdk table", description="One row per run: attributes and final metrics.")
    t.add_argument("files", nargs="+", metavar="FILE", help="run files (HDF5 with /runs)")
    t.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                   help="keep runs whose attribute KEY is VALUE (KEY=V1,V2: any of them); repeatable")
    t.add_argument("--csv", metavar="OUT", help="write CSV to OUT ('-': stdout) instead of printing the table")
    t.add_argument("--force", action="store_true", help="replace an existing --csv file")
    args = t.parse_args(argv)
    criteria = parse_where(args.where)
    runs = where(load_runs(args.files), **criteria)
    if not runs:
        raise InputError("no run matches " + " ".join(f"--where {w}" for w in args.where) if args.where
                         else "the files have no runs")
    df = table(runs)
    if args.csv:
        _write_csv(df, args.csv, args.force)
        if args.csv != "-":
            print(f"wrote {len(df)} runs to {args.csv}")
    else:
        import pandas as pd
        with pd.option_context("display.max_columns", None, "display.width", 250):
            print(df.to_string(index=False))
    return 0
