"""Figures of any sweep (and of a theory file): why scaling QK^T matters.

    PY=$(experiments/find_python.sh)
    PYTHONPATH=experiments $PY -m sqrtdk figures --sweep results/sqrt_dk.h5 [more.h5 ...] --theory results/theory.h5 \
        --out results/figures [--task teacher] [--where KEY=VALUE ...] [--group-by KEY ...]

Either input may be left out; the figures that need it are then skipped (and listed). Without --task
every task in the sweep file is plotted. Each figure is written as NAME.png and NAME.svg (style.py):

  per task T (sweep file):
    loss_vs_step_T        loss vs step, colour = d_k, solid = sqrt, dashed = none (+ one panel per d_k)
    logit_grad_vs_dk_T    median over query rows of ||dL/dS_i|| at init and at the end, vs d_k
    saturation_vs_dk_T    share of rows with max attention weight > 0.99, at init and at the end
    grad_norms_vs_dk_T    ||grad W^Q||, ||grad W^K||, ||grad W^V|| at init and averaged over training
    entropy_vs_dk_T       mean attention entropy at init and at the end, with the ln n ceiling
  theory file:
    theory_var_qk         Var(q.k) and Var(q.k/sqrt(d_k)) vs d_k with y = d_k and y = 1
    theory_saturation     max weight, saturated fraction, Jacobian norm, logit gradient vs d_k

Only runs with status "complete" are used; lines are the mean over seeds and the shaded bands span
min-max over seeds. --where keeps the runs whose attribute KEY is VALUE (any attribute; KEY=V1,V2 for any
of several); --group-by KEY draws one set of figures per value of KEY (file names end in _KEYVALUE). Runs
averaged into one point may differ only in their seed: if they differ in any other setting (say lr) that is
neither filtered nor grouped, the script stops with one line naming it and exit code 2. Figure titles end
with the settings every run in the figure shares ("fixed: ...").
Bad input: one line on stderr, exit 2, nothing written.
"""

import argparse
import math
import os
import re
import sys

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator
import numpy as np

from . import sweep as sweeps
from .reader import InputError
from . import style
from .style import color, positive
from .style import line_style, scale_label
from .sweep import BAND_TEXT, Sweep
from .theory import Theory

LOGIT_GRAD_LABEL = r"median over rows of $\Vert\partial L/\partial S_{i,:}\Vert_2$"


class Skip(Exception):
    """A figure that cannot be drawn from the data at hand (reason in the message)."""


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------

def dk_axis(ax, dks):
    """log2 x axis with ticks at the d_k values (thinned when there are many)."""
    dks = sorted(set(int(d) for d in dks))
    ax.set_xscale("log", base=2)
    ticks = dks if len(dks) <= 8 else dks[::2] if len(dks) <= 16 else dks[::4]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{int(round(v))}"))
    ax.xaxis.set_minor_locator(NullLocator())
    if len(dks) > 1:
        ax.set_xlim(dks[0] / 1.25, dks[-1] * 1.25)
    else:
        ax.set_xlim(dks[0] / 2, dks[0] * 2)
    ax.set_xlabel(r"$d_k$ (key/query dimension)")


def band(ax, x, lo, hi, c, log=False):
    if log:
        lo, hi = positive(lo), positive(hi)
    style.band(ax, x, lo, hi, c)


def subtitle(sweep, task, seed_counts, runs):
    if seed_counts and max(seed_counts) > 1:
        parts = [f"mean over {sweeps.seeds_text(seed_counts)}, shaded band = {BAND_TEXT}"]
    else:
        parts = ["one seed per point, so no band"]
    note = sweep.skipped_note(task)
    parts.append(note if note else "no runs skipped")
    return "; ".join(parts) + "\n" + sweeps.fixed_text(runs)


def save(fig, out_dir, name, written):
    written += style.save(fig, out_dir, name)


def final_step(runs):
    return int(max(r.steps[-1] for r in runs))


# --------------------------------------------------------------------------------------------------
# Per-task figures (sweep file)
# --------------------------------------------------------------------------------------------------

def fig_loss_vs_step(sweep, task, runs):
    groups = sweeps.group_by_config(runs)
    dks = sweeps.dks_of(runs)
    scales = sweeps.scales_of(runs)
    if not any(r.has("loss") for r in runs):
        raise Skip("no loss series")
    cmap = plt.get_cmap("viridis")
    dk_color = {d: cmap(x) for d, x in zip(dks, np.linspace(0.0, 0.8, len(dks)))}
    main_scales = [s for s in ("sqrt", "none") if s in scales] or scales[:2]

    n_small = len(dks) if len(dks) > 1 else 0
    ncols = min(4, max(n_small, 1))
    nrows_small = math.ceil(n_small / ncols) if n_small else 0
    fig = plt.figure(figsize=(max(10.0, 3.2 * ncols), 4.6 + 2.9 * nrows_small), constrained_layout=True)
    gs = fig.add_gridspec(1 + nrows_small, ncols, height_ratios=[1.6] + [1.0] * nrows_small)
    ax = fig.add_subplot(gs[0, :])

    seed_counts = []
    for d_k in dks:
        for scale in main_scales:
            agg = sweeps.aggregate_series(groups.get((scale, d_k), []), "loss")
            if agg is None:
                continue
            steps, a = agg
            seed_counts.append(a.n)
            band(ax, steps, a.lo, a.hi, dk_color[d_k], log=True)
            ax.plot(steps, positive(a.mean), color=dk_color[d_k], linestyle=line_style(scale), linewidth=1.8)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    ax.set_title("all $d_k$ together, " + ", ".join(f"{'solid' if line_style(s) == '-' else 'dashed'} = {scale_label(s)}"
                                                    for s in main_scales))
    dk_handles = [Line2D([], [], color=dk_color[d], linewidth=2.5, label=f"$d_k$ = {d}") for d in dks]
    style_handles = [Line2D([], [], color="0.2", linestyle=line_style(s), linewidth=1.8,
                            label=scale_label(s) + ("" if s in main_scales else " (panels below only)"))
                     for s in scales]
    style_handles.append(Patch(color="0.5", alpha=0.3, label=f"band: {BAND_TEXT}"))
    leg1 = ax.legend(handles=dk_handles, title="colour", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                     ncol=1 if len(dks) <= 8 else 2)
    ax.add_artist(leg1)
    ax.legend(handles=style_handles, title="line style (all panels)", loc="lower left",
              bbox_to_anchor=(1.01, 0.0), handlelength=3.0)

    # Small multiples: one panel per d_k with every scale in the file, same y range.
    small_axes = []
    for i, d_k in enumerate(dks if n_small else []):
        sub = fig.add_subplot(gs[1 + i // ncols, i % ncols],
                              sharey=small_axes[0] if small_axes else None)
        small_axes.append(sub)
        for scale in scales:
            agg = sweeps.aggregate_series(groups.get((scale, d_k), []), "loss")
            if agg is None:
                continue
            steps, a = agg
            if scale not in main_scales:
                seed_counts.append(a.n)
            band(sub, steps, a.lo, a.hi, dk_color[d_k], log=True)
            sub.plot(steps, positive(a.mean), color=dk_color[d_k], linestyle=line_style(scale), linewidth=1.6)
        sub.set_yscale("log")
        sub.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True, steps=[1, 2, 5, 10]))
        sub.set_title(f"$d_k$ = {d_k}")
        if i % ncols == 0:
            sub.set_ylabel("loss")
        if i // ncols == nrows_small - 1 or i + ncols >= n_small:
            sub.set_xlabel("step")
    fig.suptitle(f"Training loss vs step — task '{task}'"
                 f" (solid = scaled by 1/√d_k, dashed = unscaled; log y)\n{subtitle(sweep, task, seed_counts, runs)}",
                 fontsize=11)
    return fig


def two_panel_vs_dk(sweep, task, runs, key, title, ylabel, log_y, reducers, ylim=None, hline=None):
    """Panels (one per reducer: init / end ...) of key vs d_k, one line per scale with a seed band."""
    scales = sweeps.scales_of(runs)
    if not any(r.has(key) for r in runs):
        raise Skip(f"no '{key}' series")
    fig, axes = plt.subplots(1, len(reducers), figsize=(5.2 * len(reducers) + 2.4, 4.4), sharey=True,
                             constrained_layout=True, squeeze=False)
    axes = axes[0]
    seed_counts = []
    for ax, (panel_title, reduce) in zip(axes, reducers):
        for scale in scales:
            curve = sweeps.curve_over_dk(runs, scale, reduce)
            if curve is None:
                continue
            dks, mean, lo, hi, n = curve
            seed_counts += list(n)
            band(ax, dks, lo, hi, color(scale), log=log_y)
            ax.plot(dks, positive(mean) if log_y else mean, color=color(scale), linestyle=line_style(scale),
                    marker="o", markersize=4.5, linewidth=1.8, label=scale_label(scale))
        dk_axis(ax, sweeps.dks_of(runs))
        if log_y:
            ax.set_yscale("log")
        if ylim is not None:
            ax.set_ylim(*ylim)
        if hline is not None:
            for y, text in hline:
                ax.axhline(y, color="0.25", linestyle=":", linewidth=1.3, label=text)
        ax.set_title(panel_title)
    axes[0].set_ylabel(ylabel)
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(Patch(color="0.5", alpha=0.3))
    labels.append(f"band: {BAND_TEXT}")
    axes[-1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle(f"{title} — task '{task}'\n{subtitle(sweep, task, seed_counts, runs)}", fontsize=11)
    return fig


def init_end_reducers(runs, key):
    end = final_step(runs)
    return [("at initialisation (step 0)", lambda r: r.at_init(key)),
            (f"at end of training (last logged step, {end})", lambda r: r.at_end(key))]


def fig_logit_grad(sweep, task, runs):
    key = "logit_grad/median"
    return two_panel_vs_dk(sweep, task, runs, key,
                           "Median logit gradient per query row vs $d_k$ (log-log)",
                           LOGIT_GRAD_LABEL, True, init_end_reducers(runs, key))


def fig_saturation(sweep, task, runs):
    key = "saturated_fraction"
    return two_panel_vs_dk(sweep, task, runs, key,
                           "Saturated softmax rows (max attention weight > 0.99) vs $d_k$",
                           "saturated fraction of query rows", False, init_end_reducers(runs, key),
                           ylim=(-0.03, 1.03))


def fig_entropy(sweep, task, runs):
    key = "attn_entropy"
    ns = sorted({r.seq_len for r in runs if r.seq_len})
    hlines = [(math.log(n), f"ln n ceiling (n = {n}: {math.log(n):.2f} nats)") for n in ns]
    top = max([h for h, _ in hlines] + [max(np.nanmax(r.series[key]) for r in runs if r.has(key))]
              if any(r.has(key) for r in runs) else [1.0])
    return two_panel_vs_dk(sweep, task, runs, key, "Mean attention entropy vs $d_k$",
                           "mean attention entropy over query rows (nats)", False,
                           init_end_reducers(runs, key), ylim=(0, top * 1.12), hline=hlines)


def fig_grad_norms(sweep, task, runs):
    mats = [("W_Q", "$W^Q$"), ("W_K", "$W^K$"), ("W_V", "$W^V$")]
    keys = [f"grad_norm/{m}" for m, _ in mats]
    if not any(r.has(k) for r in runs for k in keys):
        raise Skip("no grad_norm/W_Q, W_K, W_V series")
    scales = sweeps.scales_of(runs)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), sharey=True, constrained_layout=True)
    seed_counts = []
    for ax, (mat, tex), key in zip(axes, mats, keys):
        for scale in scales:
            for when, reduce, ls, marker in (("init", lambda r, k=key: r.at_init(k), "-", "o"),
                                             ("train", lambda r, k=key: r.train_mean(k), "--", "s")):
                curve = sweeps.curve_over_dk(runs, scale, reduce)
                if curve is None:
                    continue
                dks, mean, lo, hi, n = curve
                seed_counts += list(n)
                band(ax, dks, lo, hi, color(scale), log=True)
                ax.plot(dks, positive(mean), color=color(scale), linestyle=ls, marker=marker,
                        markersize=4.5, linewidth=1.6, markerfacecolor="white" if when == "train" else None)
        dk_axis(ax, sweeps.dks_of(runs))
        ax.set_yscale("log")
        ax.set_title(f"gradient w.r.t. {tex}")
    axes[0].set_ylabel("Frobenius norm of the gradient")
    handles = [Line2D([], [], color=color(s), linewidth=2.5, label=scale_label(s)) for s in scales]
    handles += [Line2D([], [], color="0.2", linestyle="-", marker="o", label="at initialisation (step 0)"),
                Line2D([], [], color="0.2", linestyle="--", marker="s", markerfacecolor="white",
                       label="mean over training (logged steps after 0)"),
                Patch(color="0.5", alpha=0.3, label=f"band: {BAND_TEXT}")]
    axes[-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle(f"Gradient norms of the attention projections vs $d_k$ (log-log) — task '{task}'\n"
                 f"{subtitle(sweep, task, seed_counts, runs)}", fontsize=11)
    return fig


TASK_FIGURES = [("loss_vs_step", fig_loss_vs_step),
                ("logit_grad_vs_dk", fig_logit_grad),
                ("saturation_vs_dk", fig_saturation),
                ("grad_norms_vs_dk", fig_grad_norms),
                ("entropy_vs_dk", fig_entropy)]


# --------------------------------------------------------------------------------------------------
# Theory figures
# --------------------------------------------------------------------------------------------------

def fig_theory_var_qk(theory):
    if theory.var_qk is None and theory.var_qk_scaled is None:
        raise Skip("no /theory/var_qk or /theory/var_qk_scaled")
    d = theory.d_k
    fig, ax = plt.subplots(figsize=(7.2, 5.0), constrained_layout=True)
    ax.plot(d, d, color="0.45", linestyle=":", linewidth=1.5, label="$y = d_k$")
    ax.axhline(1.0, color="0.45", linestyle="-.", linewidth=1.3, label="$y = 1$")
    if theory.var_qk is not None:
        ax.plot(d, positive(theory.var_qk), color=color("none"), marker="o", linewidth=1.8,
                label=r"Var$(q\cdot k)$  (unscaled logits)")
    if theory.var_qk_scaled is not None:
        ax.plot(d, positive(theory.var_qk_scaled), color=color("sqrt"), marker="s", linewidth=1.8,
                label=r"Var$(q\cdot k/\sqrt{d_k})$  (scaled logits)")
    dk_axis(ax, d)
    ax.set_yscale("log", base=10)
    ax.set_ylabel("empirical variance of the attention logit")
    ax.legend(loc="upper left")
    ax.set_title("Variance of the attention logit $q\\cdot k$ vs $d_k$ (log-log):\n"
                 "it grows like $d_k$; dividing by $\\sqrt{d_k}$ keeps it at 1", fontsize=11)
    return fig


def fig_theory_saturation(theory):
    scales = theory.scales()
    if not scales:
        raise Skip("no /theory/<scale> groups")
    d = theory.d_k
    n = theory.keys
    panels = [
        ("max_weight_mean", "max_weight_median", "largest attention weight per row", False,
         "largest softmax weight (max over keys)"),
        ("saturated_fraction", None, "saturated rows (max weight > 0.99)", False, "fraction of rows"),
        ("jacobian_norm_median", None, "softmax Jacobian norm (median over rows)", True,
         r"median $\Vert\partial\,\mathrm{softmax}(s)/\partial s\Vert$"),
        ("logit_grad_median", None, "logit gradient (median over rows)", True, LOGIT_GRAD_LABEL),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(11.5, 8.4), constrained_layout=True)
    drawn = 0
    for ax, (key, key2, title, log_y, ylabel) in zip(axes.ravel(), panels):
        for scale in scales:
            stats = theory.per_scale[scale]
            if key in stats:
                values = stats[key]
                ax.plot(d, positive(values) if log_y else values, color=color(scale), linestyle=line_style(scale),
                        marker="o", markersize=4, linewidth=1.8, label=scale_label(scale))
                drawn += 1
            if key2 and key2 in stats:
                ax.plot(d, stats[key2], color=color(scale), linestyle="none", marker="x", markersize=5)
        if key == "max_weight_mean":
            if n:
                ax.axhline(1.0 / n, color="0.4", linestyle=":", linewidth=1.2, label=f"uniform, 1/n = 1/{n}")
            ax.axhline(1.0, color="0.4", linestyle="-.", linewidth=1.0, label="one-hot, 1")
            ax.plot([], [], color="0.3", linestyle="-", marker="o", markersize=4, label="mean over rows")
            ax.plot([], [], color="0.3", linestyle="none", marker="x", markersize=5, label="median over rows")
            ax.set_ylim(0, 1.08)
        if key == "saturated_fraction":
            ax.set_ylim(-0.03, 1.03)
        dk_axis(ax, d)
        if log_y:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.legend(loc="best", fontsize=8)
    if not drawn:
        plt.close(fig)
        raise Skip("no per-scale statistics in the theory file")
    keys_text = f"n = {n} keys" if n else "n keys"
    fig.suptitle(f"Theory: softmax over {keys_text} with random queries and keys — saturation and gradients vs $d_k$"
                 " per logit scale", fontsize=11.5)
    return fig


THEORY_FIGURES = [("theory_var_qk", fig_theory_var_qk), ("theory_saturation", fig_theory_saturation)]


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(prog="sqrtdk figures", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sweep", nargs="+", action="extend", metavar="FILE",
                   help="run files with /runs (e.g. results/sqrt_dk.h5), one or more")
    p.add_argument("--theory", help="theory HDF5 file with /theory (e.g. results/theory.h5)")
    p.add_argument("--out", required=True, help="output directory (created if missing)")
    p.add_argument("--task", help="only this task (default: every task in the sweep file)")
    p.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                   help="only runs whose attribute KEY is VALUE (KEY=V1,V2: any of them); repeatable")
    p.add_argument("--group-by", action="append", default=[], metavar="KEY",
                   help="one set of figures per value of attribute KEY (e.g. lr); repeatable")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not args.sweep and not args.theory:
        raise InputError("nothing to plot: give --sweep FILE.h5 and/or --theory FILE.h5")
    if (args.task or args.where or args.group_by) and not args.sweep:
        raise InputError("--task, --where and --group-by need --sweep")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise InputError(f"{args.out}: exists and is not a directory")

    # Read and check everything before creating the output directory.
    group_by = [k for text in args.group_by for k in text.split(",") if k]
    sweep = Sweep(args.sweep, where=args.where, group_by=group_by) if args.sweep else None
    theory = Theory(args.theory) if args.theory else None
    if sweep is not None and args.task:
        sweep.check_task(args.task)
    if sweep is not None:
        sweeps.check_curves(sweep.runs, group_by)  # refuses to average runs of different settings
    tasks = ([args.task] if args.task else sweep.all_tasks()) if sweep is not None else []

    os.makedirs(args.out, exist_ok=True)
    written, skipped = [], []
    for warning in (theory.warnings if theory else []):
        print(f"warning: {warning}", file=sys.stderr)

    jobs = []
    if sweep is not None:
        total_skipped = len(sweep.skipped)
        print(f"{sweep.path}: {len(sweep.runs)} complete runs used; "
              + (sweep.skipped_note() if total_skipped else "no runs skipped"))
        for task in tasks:
            for label, runs in sweep.groups(task) or [("", [])]:
                suffix = re.sub(r"[^A-Za-z0-9._-]+", "", label.replace(" ", "_"))
                for base, fn in TASK_FIGURES:
                    jobs.append((f"{base}_{task}" + (f"_{suffix}" if suffix else ""), fn,
                                 (sweep, task, runs) if runs else None, f"no complete runs for task '{task}'"))
    else:
        skipped.append(("loss_vs_step_*, logit_grad_vs_dk_*, saturation_vs_dk_*, grad_norms_vs_dk_*, "
                        "entropy_vs_dk_*", "no --sweep file"))
    for name, fn in THEORY_FIGURES:
        jobs.append((name, fn, (theory,) if theory is not None else None, "no --theory file"))

    for name, fn, fn_args, missing_reason in jobs:
        if fn_args is None:
            skipped.append((name, missing_reason))
            continue
        try:
            fig = fn(*fn_args)
        except Skip as why:
            plt.close("all")
            skipped.append((name, str(why)))
            continue
        save(fig, args.out, name, written)
        print(f"wrote {os.path.join(args.out, name)}.png and .svg")

    for name, reason in skipped:
        print(f"skipped {name}: {reason}")
    n_figs = len(written) // 2
    print(f"{n_figs} figure{'s' if n_figs != 1 else ''} (PNG + SVG) in {args.out}; {len(skipped)} skipped")
    if not written:
        print("sqrtdk figures: no figure could be drawn", file=sys.stderr)
        return 1
    return 0

