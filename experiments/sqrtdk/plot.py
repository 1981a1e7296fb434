"""One figure of any runs: a logged series against step, or a final metric against a setting, coloured by
one setting and split into panels by another, with 95% intervals over seeds.

    PY=$(experiments/find_python.sh)
    PYTHONPATH=experiments $PY -m sqrtdk plot FILE.h5... --y loss --color lr --facet optimizer --out loss.png
    PYTHONPATH=experiments $PY -m sqrtdk plot FILE.h5... --y final_loss --x lr --color optimizer --out lr.png

--y: with --x step (the default), a series of the runs (loss, eval/loss, grad_norm/W_Q ...); with --x SETTING,
a final metric of the table (final_loss, eval_accuracy ...; `python3 -m sqrtdk table` lists them) or a
series, whose last value is used. Lines are the mean over seeds and bands its 95% interval (stats.py):
the geometric mean for positive quantities that span decades (losses, norms), else the arithmetic one.

Runs on one line may differ only in their seed: a setting that varies between the runs given but is
neither --x, --color, --facet nor the seed is refused with one line naming it (fix it with --where).
Diverged runs (status "diverged", or a loss that is not finite or grew over 100x its first value)
are not averaged in: they are drawn as crosses at the top of their panel (--diverged mark, the default)
or left out (--diverged exclude), and counted in the title either way. The title states the settings
every run shares (d_model, n, optimizer, ...) and the seeds. Setting names in either spelling (d_model or
d-model, d_k or dk); an unknown one gets "did you mean". Bad input: one line on stderr, exit 2, nothing
written.
"""

import argparse
import math
import os
from collections import defaultdict

import numpy as np

from . import names, reader, stats
from .guard import InputError

# Values beyond this are not drawn (matplotlib overflows on 1e271 when it computes a log axis' limits).
DRAWABLE = 1e100
# The settings a title names when every run shares them, in this order (then "seeds").
TITLE_SETTINGS = ("task", "model", "scale", "d_model", "heads", "d_k", "d_v", "seq_len", "optimizer", "lr",
                  "batch", "steps", "precision")
TITLE_NAMES = {"seq_len": "n"}
METRICS = tuple(c for c in reader.FINAL_COLUMNS if c != "final_source")
# Quantities averaged on log values: positive and spread over decades.
LOG_WORDS = ("loss", "norm", "grad", "logit_max", "logit_std", "delta")


def _sort_values(values):
    return sorted(values, key=lambda v: (v is None, str(type(v)), v))


def _uses_log(y, values):
    values = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    return (any(w in y for w in LOG_WORDS) and len(values) > 0 and bool(np.all(values > 0)))


class Spec:
    """What to draw, resolved against the runs: y, x ("step" or a setting), color, facet (or None)."""

    def __init__(self, runs, y, x="step", color=None, facet=None):
        if not runs:
            raise InputError("no runs to plot")
        attrs = set().union(*(r.attrs for r in runs))
        settings = attrs - set(reader.NOT_SETTINGS)
        self.x = "step" if x in (None, "step") else names.resolve(x, settings, option=f"--x {x}")
        self.color = names.resolve(color, settings, option=f"--color {color}") if color else None
        self.facet = names.resolve(facet, settings, option=f"--facet {facet}") if facet else None
        roles = [k for k in (self.x, self.color, self.facet) if k and k != "step"]
        if len(set(roles)) != len(roles):
            raise InputError(f"--x, --color and --facet must be different settings (got {', '.join(roles)})")
        series = set().union(*(r.series for r in runs))
        if self.x == "step":
            if y not in series:
                raise InputError(f"--y {y}: no run has a series '{y}'{names.did_you_mean(y, series)}")
        elif y not in METRICS and y not in series:
            raise InputError(f"--y {y}: neither a final metric nor a series"
                             f"{names.did_you_mean(y, set(METRICS) | series)}")
        self.y = y
        mixed = reader.varying(runs, ignore=reader.NOT_SETTINGS + ("seed",) + tuple(roles))
        if mixed:
            shown = "; ".join(f"{k} ({', '.join(reader.format_value(v) for v in vs)})" for k, vs in mixed.items())
            raise InputError(f"the runs differ in {shown}, which is neither --x, --color, --facet nor the seed: "
                             "keep one value with --where KEY=VALUE or give it a role")

    def value(self, run):
        """The final metric (x a setting): a table column, or the series' last value."""
        if self.y in METRICS:
            return run.final_metrics()[self.y]
        return run.last(self.y)

    def time_axis(self, run):
        head = self.y.split("/", 1)[0]
        key = f"{head}/{reader.STEP}" if "/" in self.y and f"{head}/{reader.STEP}" in run.series else reader.STEP
        return run.series.get(key)


def _interval(values, log):
    return stats.geomean_interval(values) if log else stats.mean_interval(values)


def _drawable(values):
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values) & (np.abs(values) < DRAWABLE), values, np.nan)


def _title(spec, runs, n_diverged, diverged):
    what = f"{spec.y} vs {spec.x}"
    roles = [f"colour = {spec.color}" if spec.color else "", f"panels = {spec.facet}" if spec.facet else ""]
    what += "".join(f"; {r}" for r in roles if r)
    shared = reader.fixed(runs)
    parts = [f"{TITLE_NAMES.get(k, k)}={reader.format_value(shared[k])}" for k in TITLE_SETTINGS if k in shared]
    seeds = _sort_values({r.attrs.get("seed") for r in runs})
    parts.append(f"seeds {', '.join(reader.format_value(s) for s in seeds)}" if len(seeds) <= 6 else
                 f"{len(seeds)} seeds ({reader.format_value(seeds[0])}–{reader.format_value(seeds[-1])})")
    lines = [what, "fixed: " + ", ".join(parts)]
    if n_diverged:
        how = "drawn as × at the top of their panel" if diverged == "mark" else "left out"
        lines.append(f"{n_diverged} diverged run{'s' if n_diverged != 1 else ''} ({how}); "
                     "lines and bands: mean over seeds with 95% interval")
    else:
        lines.append("lines and bands: mean over seeds with 95% interval")
    return "\n".join(lines)


def figure(runs, y, x="step", color=None, facet=None, diverged="mark"):
    """The matplotlib Figure (see the module's docstring); InputError for a request the runs cannot meet."""
    import matplotlib.pyplot as plt
    from matplotlib.transforms import blended_transform_factory
    from . import style

    if diverged not in ("mark", "exclude"):
        raise InputError(f"--diverged {diverged}: expected mark or exclude")
    spec = Spec(runs, y, x, color, facet)
    facets = _sort_values({r.attrs.get(spec.facet) for r in runs}) if spec.facet else [None]
    colors = _sort_values({r.attrs.get(spec.color) for r in runs}) if spec.color else [None]
    palette = plt.get_cmap("viridis" if len(colors) > 10 else "tab10")
    color_of = {c: palette(i / max(len(colors) - 1, 1) if len(colors) > 10 else i) for i, c in enumerate(colors)}

    cells = defaultdict(list)       # (facet, colour) -> runs that did not diverge
    blown = defaultdict(list)       # (facet, colour) -> [x position of each diverged run]
    for run in runs:
        key = (run.attrs.get(spec.facet) if spec.facet else None, run.attrs.get(spec.color) if spec.color else None)
        at = reader.diverged_at(run)
        if at is not None:
            blown[key].append(at if spec.x == "step" else run.attrs.get(spec.x))
        else:
            cells[key].append(run)
    n_diverged = sum(len(v) for v in blown.values())

    x_numeric = spec.x == "step" or all(reader._is_number(r.attrs.get(spec.x)) for r in runs)
    categories = [] if x_numeric else _sort_values({r.attrs.get(spec.x) for r in runs})
    position = (lambda v: float(v)) if x_numeric else (lambda v: float(categories.index(v)))

    drawn = [r for members in cells.values() for r in members]
    values_for_scale = ([v for r in drawn if r.has(spec.y) for v in r.series[spec.y]] if spec.x == "step"
                        else [spec.value(r) for r in drawn])
    log_y = _uses_log(spec.y, values_for_scale)

    ncols = min(len(facets), 4)
    nrows = math.ceil(len(facets) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.8 * ncols + 2.2, 3.8 * nrows + 0.9), squeeze=False,
                             sharey=True, constrained_layout=True)
    for i, facet_value in enumerate(facets):
        ax = axes[i // ncols][i % ncols]
        for c in colors:
            label = f"{spec.color}={reader.format_value(c)}" if spec.color else spec.y
            members = cells.get((facet_value, c), [])
            if spec.x == "step":
                members = [r for r in members if r.has(spec.y) and spec.time_axis(r) is not None]
                if members:
                    length = min(min(len(r.series[spec.y]), len(spec.time_axis(r))) for r in members)
                    xs = np.asarray(spec.time_axis(members[0])[:length], dtype=np.float64)
                    matrix = np.asarray([r.series[spec.y][:length] for r in members], dtype=np.float64)
                    ivs = [_interval(matrix[:, j], log_y) for j in range(length)]
                    _line(ax, xs, ivs, color_of[c], f"{label} ({len(members)} seeds)", style, marker=None)
            else:
                by_x = defaultdict(list)
                for r in members:
                    by_x[r.attrs.get(spec.x)].append(spec.value(r))
                xs = _sort_values(by_x)
                if xs:
                    ivs = [_interval(by_x[v], log_y) for v in xs]
                    counts = sorted({iv.n for iv in ivs})
                    seeds = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
                    _line(ax, np.asarray([position(v) for v in xs]), ivs, color_of[c],
                          f"{label} ({seeds} seeds)", style, marker="o")
            if diverged == "mark" and blown.get((facet_value, c)):
                at = [position(v) for v in blown[(facet_value, c)] if v is not None]
                ax.plot(at, [0.97] * len(at), linestyle="none", marker="x", markersize=8, color=color_of[c],
                        transform=blended_transform_factory(ax.transData, ax.transAxes), clip_on=False)
        if log_y:
            ax.set_yscale("log")
        if spec.x != "step" and x_numeric:
            xs = [float(r.attrs[spec.x]) for r in runs]
            if min(xs) > 0 and max(xs) / min(xs) >= 10:
                ax.set_xscale("log")
        if categories:
            ax.set_xticks(range(len(categories)), [reader.format_value(v) for v in categories])
        ax.set_xlabel(spec.x)
        if i % ncols == 0:
            ax.set_ylabel(spec.y + (" (log)" if log_y else ""))
        if spec.facet:
            ax.set_title(f"{spec.facet} = {reader.format_value(facet_value)}")
    for j in range(len(facets), nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    handles, labels = [], []
    for ax in axes.ravel():   # one entry per colour, from whichever panel drew it
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l.split(" (")[0] not in [x.split(" (")[0] for x in labels]:
                handles.append(h)
                labels.append(l)
    from matplotlib.lines import Line2D
    for c in colors:          # a colour whose every run diverged has no line, only crosses
        label = f"{spec.color}={reader.format_value(c)}" if spec.color else spec.y
        if label not in [x.split(" (")[0] for x in labels]:
            handles.append(Line2D([], [], linestyle="none", marker="x", markersize=8, color=color_of[c]))
            labels.append(f"{label} (every run diverged" + (")" if diverged == "mark" else ", left out)"))
    if diverged == "mark" and n_diverged:
        handles.append(Line2D([], [], linestyle="none", marker="x", color="0.3", markersize=8))
        labels.append(f"diverged ({n_diverged} run{'s' if n_diverged != 1 else ''})")
    if handles:
        axes[0][ncols - 1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    fig.suptitle(_title(spec, runs, n_diverged, diverged), fontsize=10)
    return fig


def _line(ax, xs, intervals, c, label, style, marker):
    mean = _drawable([iv.value for iv in intervals])
    lo, hi = _drawable([iv.lo for iv in intervals]), _drawable([iv.hi for iv in intervals])
    if np.all(np.isnan(mean)):
        return
    style.band(ax, xs, lo, hi, c)
    ax.plot(xs, mean, color=c, marker=marker, markersize=4.5, linewidth=1.6, label=label)


# ---- Command line --------------------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(prog="sqrtdk plot", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE", help="run files (HDF5 with /runs)")
    p.add_argument("--y", required=True, help="a series (with --x step) or a final metric / series (with --x SETTING)")
    p.add_argument("--x", default="step", help="step (default) or a setting, e.g. lr")
    p.add_argument("--color", "--colour", dest="color", help="one line per value of this setting")
    p.add_argument("--facet", help="one panel per value of this setting")
    p.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                   help="only runs whose attribute KEY is VALUE (KEY=V1,V2: any of them); repeatable")
    p.add_argument("--diverged", default="mark", choices=("mark", "exclude"),
                   help="diverged runs: crosses at the top of their panel (default) or left out")
    p.add_argument("--out", required=True, metavar="FIG.png", help="the figure (.png or .svg)")
    args = p.parse_args(argv)
    out_dir, out_name = os.path.split(os.path.abspath(args.out))
    stem, ext = os.path.splitext(out_name)
    if ext not in (".png", ".svg"):
        raise InputError(f"--out {args.out}: expected a .png or .svg file name")
    if not os.path.isdir(out_dir):
        raise InputError(f"--out {args.out}: directory {out_dir} does not exist")
    runs = reader.where(reader.load_runs(args.files), **reader.parse_where(args.where))
    if not runs:
        raise InputError("no run matches " + " ".join(f"--where {w}" for w in args.where))
    import matplotlib
    matplotlib.use("Agg")
    fig = figure(runs, args.y, args.x, args.color, args.facet, args.diverged)
    from . import style
    fig.savefig(args.out, dpi=style.DPI, bbox_inches="tight", metadata={"Date": None} if ext == ".svg" else None)
    import matplotlib.pyplot as plt
    plt.close(fig)
    print(f"wrote {args.out} ({len(runs)} runs)")
    return 0
