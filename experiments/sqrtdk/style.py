"""The one figure style of every figure the package draws: colours, line styles, labels, the interval band,
resolution and file formats.

Each scale (and the study's µP arm) has one colour everywhere, so a reader who learned "red is unscaled"
in one figure can trust it in the next. Bands are always drawn the same way (the same opacity, no edge);
what a band spans is said in the figure's title. Figures are written as PNG and SVG with the same settings;
the SVG's ids are salted with a constant and carry no date, so a rerun on the same data gives the same bytes.
"""

import os
import textwrap

import matplotlib

matplotlib.use("Agg")  # no display needed, ever
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

SCALE_ORDER = ["none", "sqrt", "linear", "learned", "qknorm"]
TASK_ORDER = ["teacher", "recall", "sense"]
# The µP arm of the learning-rate sweep: sqrt with the query/key learning rate divided by √d_k.
MUP_ARM = "sqrt, qk lr/√d_k"
COLORS = {
    "none": "#d62728",     # red: the problem case
    "sqrt": "#1f77b4",     # blue: the standard fix
    "linear": "#2ca02c",
    "learned": "#9467bd",
    "qknorm": "#ff7f0e",
    MUP_ARM: "#17becf",
}
OTHER_COLOR = "#7f7f7f"  # a scale the palette does not know
LINE_STYLES = {
    "sqrt": "-",
    "none": "--",
    "linear": ":",
    "learned": "-.",
    "qknorm": (0, (5, 1, 1, 1, 1, 1)),
}
SCALE_LABELS = {
    "none": "none: QKᵀ (unscaled)",
    "sqrt": "sqrt: QKᵀ/√d_k",
    "linear": "linear: QKᵀ/d_k",
    "learned": "learned scale",
    "qknorm": "QK-norm",
}
# Training steps of the coordinate check, light (early) to dark (late).
STEP_COLORS = {0: "#c6dbef", 1: "#6baed6", 10: "#2171b5", 100: "#08519c", "end": "#08306b"}

BAND_ALPHA = 0.18
DPI = 110
# Stable SVG ids: the same figure gives the same file.
matplotlib.rcParams["svg.hashsalt"] = "sandbox-study"
# Every figure lays itself out (constrained layout): the suptitle gets a row of its own above the panels'
# titles instead of being drawn over them, and labels and legends are not cut off.
matplotlib.rcParams["figure.constrained_layout.use"] = True


def color(scale):
    return COLORS.get(scale, OTHER_COLOR)


def line_style(scale):
    return LINE_STYLES.get(scale, "-")


def scale_label(scale):
    return SCALE_LABELS.get(scale, scale)


def scale_sort_key(scale):
    return (SCALE_ORDER.index(scale), scale) if scale in SCALE_ORDER else (len(SCALE_ORDER), scale)


def task_sort_key(task):
    return (TASK_ORDER.index(task), task) if task in TASK_ORDER else (len(TASK_ORDER), task)


def band(ax, x, lo, hi, c):
    """The interval band between lo and hi (points where either is NaN are left open)."""
    ax.fill_between(x, lo, hi, color=c, alpha=BAND_ALPHA, linewidth=0)


def interval_line(ax, xs, intervals, c, label, dash="-", marker="o", fill="full"):
    """A line through the intervals' values with their band (stats.Interval); points without a value are
    left out, and the band where either bound is missing."""
    xs = np.asarray(xs, dtype=float)
    v = np.array([iv.value for iv in intervals])
    lo = np.array([iv.lo for iv in intervals])
    hi = np.array([iv.hi for iv in intervals])
    ok = np.isfinite(v)
    if not ok.any():
        return
    ax.plot(xs[ok], v[ok], linestyle=dash, color=c, label=label, marker=marker, ms=3, fillstyle=fill)
    inside = ok & np.isfinite(lo) & np.isfinite(hi)
    if inside.any():
        band(ax, xs[inside], lo[inside], hi[inside], c)


def save(fig, directory, name):
    """`fig` as directory/name.png and .svg; the paths written. A long title is wrapped: it would widen the
    figure. A figure made without a layout engine gets the constrained one, which keeps the suptitle clear of
    the panels' titles."""
    title = fig._suptitle
    if title is not None:
        title.set_text("\n".join(textwrap.fill(line, 150) for line in title.get_text().split("\n")))
    if fig.get_layout_engine() is None:
        fig.set_layout_engine("constrained")
    paths = []
    for ext in ("png", "svg"):
        path = os.path.join(directory, f"{name}.{ext}")
        fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata={"Date": None} if ext == "svg" else None)
        paths.append(path)
    plt.close(fig)
    return paths


def positive(values):
    """Non-positive values masked, so log axes do not draw them at the clip floor."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(values > 0, values, np.nan)
