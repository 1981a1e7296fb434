"""Runs of one or more run files prepared for the figures and tables of any sweep (sweep_figures.py,
scale_table.py).

Run files (/runs/<name> groups) are read by reader.py (any number of files, --where). Only runs whose
`status` attribute is "complete" and whose loss did not blow up (reader.diverged_at) are used; the others
are counted so the commands can say how many were skipped. Seeds are aggregated per (task, scale, d_k) and per value of every --group-by attribute: mean,
min, max and std. Runs that would be averaged together but differ in any other setting (e.g. two learning
rates) are refused (check_curves), never silently mixed.

Bad input (missing file, not HDF5, no /runs) raises InputError: one line on stderr and exit code 2, before
any output is written.
"""

import textwrap
from collections import Counter, defaultdict

import numpy as np

from . import reader
from .reader import InputError
from .style import scale_sort_key, task_sort_key

BAND_TEXT = "min–max over seeds"   # what the shaded bands of these figures span

# Series that every run of the contract has (others are optional and used when present).
REQUIRED_ATTRS = ("task", "scale", "d_k", "seed", "status")


class Run:
    """One training run: its attributes and its logged series (those of one time axis of one length)."""

    def __init__(self, name, attrs, series, file=None):
        self.name = name
        self.attrs = attrs
        self.series = series
        self.file = file

    task = property(lambda self: self.attrs["task"])
    scale = property(lambda self: self.attrs["scale"])
    d_k = property(lambda self: int(self.attrs["d_k"]))
    seed = property(lambda self: int(self.attrs["seed"]))
    status = property(lambda self: self.attrs["status"])

    @property
    def seq_len(self):
        n = self.attrs.get("seq_len")
        return int(n) if n is not None else None

    @property
    def steps(self):
        return self.series["step"]

    def has(self, key):
        return key in self.series and len(self.series[key]) > 0

    # Per-run reductions used for "at init / at end / averaged over training".
    def at_init(self, key):
        return float(self.series[key][0]) if self.has(key) else None

    def at_end(self, key):
        return float(self.series[key][-1]) if self.has(key) else None

    def train_mean(self, key):
        """Mean over the logged points after initialisation (index >= 1); the init value if that is all."""
        if not self.has(key):
            return None
        values = self.series[key]
        return float(np.mean(values[1:])) if len(values) > 1 else float(values[0])


class Sweep:
    """The runs of one or more run files, selected by --where; `runs` holds the complete ones, `skipped`
    the others. `group_by` names the attributes whose values split the figures (and rows) apart."""

    def __init__(self, paths, where=(), group_by=()):
        paths = [paths] if isinstance(paths, str) else list(paths)
        self.path = ", ".join(paths)
        self.group_by = list(group_by)
        self.runs = []
        self.skipped = []       # (name, task or "?", reason)
        self.attrs = {}
        loaded = []
        for path in paths:
            file_attrs, runs = reader.read_file(path)
            if not runs:
                raise InputError(f"{path}: /runs has no run groups")
            self.attrs.update(file_attrs)
            loaded += runs
        self.where = list(where)
        criteria = reader.parse_where(self.where)
        selected = reader.where(loaded, **criteria)
        if not selected:
            raise InputError(f"{self.path}: no run matches " + " ".join(f"--where {w}" for w in self.where))
        known = set().union(*(r.attrs for r in loaded))
        for key in self.group_by:
            if key not in known:
                raise InputError(f"--group-by {key}: no run has an attribute '{key}' "
                                 f"(attributes: {', '.join(sorted(known))})")
        _refuse_duplicates(selected)
        for run in selected:
            self._add_run(run)

    def _add_run(self, record):
        name, attrs = record.name, record.attrs
        task = attrs.get("task", "?")
        missing = [a for a in REQUIRED_ATTRS if a not in attrs]
        if missing:
            self.skipped.append((name, task, "missing attribute " + ", ".join(missing)))
            return
        if attrs["status"] != "complete":
            self.skipped.append((name, task, str(attrs["status"])))
            return
        if not record.has("step"):
            self.skipped.append((name, task, "no step dataset"))
            return
        if reader.diverged_at(record) is not None:   # "complete" with losses of 1e271: it blew up
            self.skipped.append((name, task, "diverged"))
            return
        self.runs.append(Run(name, attrs, record.series, record.file))

    def groups(self, task):
        """[(label, runs)] for `task`: one entry per combination of --group-by values ("" without any)."""
        runs = self.for_task(task)
        if not self.group_by:
            return [("", runs)] if runs else []
        combos = defaultdict(list)
        for r in runs:
            combos[tuple(r.attrs.get(k) for k in self.group_by)].append(r)
        out = []
        for values in sorted(combos, key=lambda vs: tuple((v is None, str(type(v)), v) for v in vs)):
            label = " ".join(f"{k}={reader.format_value(v)}" for k, v in zip(self.group_by, values))
            out.append((label, combos[values]))
        return out

    def tasks(self):
        return sorted({r.task for r in self.runs}, key=task_sort_key)

    def all_tasks(self):
        return sorted({r.task for r in self.runs} | {t for _, t, _ in self.skipped if t != "?"},
                      key=task_sort_key)

    def check_task(self, task):
        """InputError unless `task` has runs (complete or not) in the file."""
        if task not in self.all_tasks():
            have = ", ".join(self.all_tasks()) or "none"
            raise InputError(f"{self.path}: no runs for task '{task}' (tasks in file: {have})")

    def for_task(self, task):
        return [r for r in self.runs if r.task == task]

    def skipped_for(self, task=None):
        return [s for s in self.skipped if task is None or s[1] == task]

    def skipped_note(self, task=None):
        """e.g. "1 run skipped (1 interrupted)" or "" when nothing was skipped."""
        skipped = self.skipped_for(task)
        if not skipped:
            return ""
        counts = Counter(reason for _, _, reason in skipped)
        detail = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items()))
        return f"{len(skipped)} non-complete run{'s' if len(skipped) != 1 else ''} skipped ({detail})"


# --------------------------------------------------------------------------------------------------
# Aggregation over seeds
# --------------------------------------------------------------------------------------------------

class Agg:
    """Mean / min / max / std over seeds of scalars or of equal-length arrays; n = number of seeds."""

    def __init__(self, values):
        values = np.asarray(values, dtype=np.float64)
        self.n = values.shape[0]
        self.mean = values.mean(axis=0)
        self.lo = values.min(axis=0)
        self.hi = values.max(axis=0)
        self.std = values.std(axis=0)


def group_by_config(runs):
    """{(scale, d_k): [runs over seeds]} for runs of one task."""
    groups = defaultdict(list)
    for r in runs:
        groups[(r.scale, r.d_k)].append(r)
    return dict(groups)


# Attributes that may differ between runs averaged into one curve: the seed, and the outcomes of a run.
AVERAGED_OVER = ("seed",) + reader.NOT_SETTINGS


def _refuse_duplicates(runs):
    """InputError when two runs have every setting in common, seed included (the same run twice, e.g. a
    shard and the merged file): averaging them would count one configuration twice."""
    seen = {}
    for r in runs:
        key = tuple(sorted((k, str(v)) for k, v in r.attrs.items() if k not in reader.NOT_SETTINGS))
        if key in seen:
            first = seen[key]
            raise InputError(f"runs {first.name} ({first.file}) and {r.name} ({r.file}) have the same settings, "
                             "seed included: one would be counted twice (give each run once)")
        seen[key] = r


def check_curves(runs, group_by=()):
    """InputError naming the first setting in which runs that would be averaged into one point differ.

    Runs are averaged per (task, scale, d_k, --group-by values); within one such cell only the seed and the
    outcomes (status, wall time, gradcheck error) may differ. Anything else (a learning rate, a model) must
    be held fixed with --where or split with --group-by."""
    cells = defaultdict(list)
    for r in runs:
        cells[tuple(r.attrs.get(k) for k in ("task", "scale", "d_k", *group_by))].append(r)
    for cell, members in sorted(cells.items(), key=lambda kv: str(kv[0])):
        differing = reader.varying(members, ignore=AVERAGED_OVER + tuple(group_by))
        if differing:
            key, values = next(iter(differing.items()))
            shown = ", ".join(reader.format_value(v) for v in values)
            where = f"task {cell[0]}, scale {cell[1]}, d_k {cell[2]}"
            raise InputError(f"runs averaged into one curve differ in {key} ({shown}; {where}): "
                             f"keep one with --where {key}=VALUE or split them with --group-by {key}")


def fixed_text(runs, width=110):
    """'fixed: lr=0.01, model=single_head, ...' (the settings every run shares), wrapped to `width`."""
    settings = reader.fixed(runs, ignore=AVERAGED_OVER + ("task",))
    if not settings:
        return "fixed: nothing"
    text = "fixed: " + ", ".join(f"{k}={reader.format_value(v)}" for k, v in settings.items())
    return "\n".join(textwrap.wrap(text, width))


def scales_of(runs):
    return sorted({r.scale for r in runs}, key=scale_sort_key)


def dks_of(runs, scale=None):
    return sorted({r.d_k for r in runs if scale is None or r.scale == scale})


def aggregate_scalar(runs, reduce):
    """Agg over runs of reduce(run) (a float or None); None if no run has a value."""
    values = [v for v in (reduce(r) for r in runs) if v is not None]
    return Agg(values) if values else None


def aggregate_series(runs, key):
    """(steps, Agg) of series `key` over runs, truncated to the shortest run; None if absent."""
    runs = [r for r in runs if r.has(key)]
    if not runs:
        return None
    length = min(len(r.series[key]) for r in runs)
    steps = runs[0].steps[:length]
    return steps, Agg([r.series[key][:length] for r in runs])


def curve_over_dk(runs, scale, reduce):
    """For one task's runs and one scale: d_k values and Agg arrays (mean/lo/hi over seeds) vs d_k.

    Returns (dks, mean, lo, hi, seeds) with numpy arrays, or None when no run has a value."""
    groups = group_by_config(runs)
    rows = []
    for d_k in dks_of(runs, scale):
        agg = aggregate_scalar(groups.get((scale, d_k), []), reduce)
        if agg is not None:
            rows.append((d_k, agg.mean, agg.lo, agg.hi, agg.n))
    if not rows:
        return None
    cols = list(zip(*rows))
    return tuple(np.asarray(c) for c in cols)


def seeds_text(counts):
    """'2 seeds' or '2–3 seeds' from an iterable of per-point seed counts."""
    counts = sorted(set(int(c) for c in counts))
    if not counts:
        return "0 seeds"
    span = str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
    return f"{span} seed{'s' if counts[-1] != 1 else ''}"
