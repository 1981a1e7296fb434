"""The √d_k study's figures and summary, from the run files of experiments/study/*.ini.

    PY=$(experiments/find_python.sh)
    PYTHONPATH=experiments $PY -m sqrtdk study --study results/study --out results

reads results/study/{dk,heads,lr}.h5 (whichever exist) and writes results/summary.md and
results/figures/<name>.png|svg. Every number is a statistic over seeds with its 95% interval
(sqrtdk/stats.py says which statistic for which quantity). Per task:
  final_loss_vs_dk      final held-out loss against d_k, one line per scale (dk.h5)
  loss_vs_step          held-out loss against step at three d_k (dk.h5)
  init_gradients_vs_dk  at initialisation: per-row ‖∂L/∂S‖ and ‖∂L/∂q‖ (median, mean) and ‖∇W^Q‖ (dk.h5)
  saturation_vs_dk      saturated rows and attention entropy at initialisation and at the end (dk.h5)
  coord_check           logit std, max |S| and the rms change of S per update against d_k at steps 0, 1,
                        10, 100 and the end, one panel per scale (the µP "coordinate check"; dk.h5)
  lr_sensitivity        final held-out loss against the learning rate, a panel per d_k, a line per scale
                        and for the µP arm (sqrt with lr_qk_mult = 1/√d_k) (lr.h5)
  heads                 final held-out loss and saturation against the number of heads at d_model 32 (heads.h5)
Only complete runs are used, except in the learning-rate sweep, where a diverged run counts with the loss at
initialisation (it learned nothing), as in the LR-sensitivity number. Diverged means status "diverged" or,
in files of older versions, a loss that blew up while the status says "complete" (reader.diverged_at). Bad input: one line on stderr, exit 2.
"""

import argparse
import math
import os
from collections import defaultdict

import numpy as np
import matplotlib.pyplot as plt

from . import lm_figures, reader, stats, style, wide
from .reader import InputError  # one line on stderr and exit 2
from .stats import cells, fmt, fmt_interval, geomean_interval, mean_interval
from .style import COLORS, MUP_ARM, STEP_COLORS, task_sort_key

COORD_STEPS = (0, 1, 10, 100, "end")
SCALES = tuple(style.SCALE_ORDER)
ARMS = ("none", "sqrt", "linear", MUP_ARM)
UNIT = (0.0, 1.0)  # fractions and accuracies: intervals clipped to their range
T_NOTE = ("95% interval over seeds: geometric mean and t interval of the logs for positive quantities that span decades "
          "(losses, gradient norms, logit std, max |S|, the change of S), arithmetic mean and t interval for the rest "
          "(accuracies, fractions, entropies, LR sensitivity, differences)")


# ---- One row per run -----------------------------------------------------------------------------------

def _at(run, key, step):
    """Series `key` at training step `step` ("end": the last logged step); NaN when absent."""
    return reader.series_at(run, key, step)


def _eval_at(run, step):
    if not run.has("eval/loss"):
        return math.nan
    steps = run.series["eval/step"]
    if step == "end":
        return float(run.series["eval/loss"][-1])
    hits = np.nonzero(steps == step)[0]
    return float(run.series["eval/loss"][hits[0]]) if len(hits) else math.nan


def arm_of(run):
    return MUP_ARM if run["scale"] == "sqrt" and abs(run["lr_qk_mult"] - 1.0) > 1e-12 else run["scale"]


def run_status(run):
    """The run's status, "diverged" also for a run of an older version that blew up (a loss over 100x its
    first, or not finite) yet says "complete": the sandbox now stops and records such runs itself."""
    return "diverged" if reader.diverged_at(run) is not None else run.status


def run_row(run):
    row = {k: run.attrs.get(k) for k in ("task", "scale", "d_k", "d_v", "d_model", "heads", "lr", "lr_qk_mult",
                                         "seed", "steps")}
    row["status"] = run_status(run)
    row["arm"] = arm_of(run)
    # A run of a classification task logs accuracy (regression tasks do not): read it from the run rather
    # than from a list of task names, so a new task gets its accuracy panels too.
    row["classifies"] = run.has("accuracy") or run.has("eval/accuracy")
    row["eval_init"] = _eval_at(run, 0)
    row["eval_end"] = _eval_at(run, "end") if row["status"] == "complete" else math.nan
    row["eval_50"] = _eval_at(run, 50)
    row["eval_acc_end"] = float(run.series["eval/accuracy"][-1]) if run.has("eval/accuracy") and row["status"] == "complete" else math.nan
    for key in ("logit_std", "logit_max_abs", "logit_delta_rms"):
        for s in COORD_STEPS:
            row[f"{key}@{s}"] = _at(run, key, s)
    for key in ("logit_grad/median", "logit_grad/mean", "q_grad/median", "q_grad/mean", "grad_norm/W_Q",
                "saturated_fraction", "attn_entropy"):
        row[f"{key}@0"] = _at(run, key, 0)
        row[f"{key}@end"] = _at(run, key, "end")
    return row


def load_rows(path):
    if not os.path.exists(path):
        return None
    return [run_row(r) for r in reader.load_runs([path])]


def complete(rows):
    return [r for r in rows if r["status"] == "complete"]


# ---- Figures -------------------------------------------------------------------------------------------

def save(fig, out, name, written):
    style.save(fig, os.path.join(out, "figures"), name)
    written.append(name)


def line_with_band(ax, xs, intervals, color, label, dash="-"):
    style.interval_line(ax, xs, intervals, color, label, dash)


def log_dk_axis(ax, dks, d_model=None):
    ax.set_xscale("log", base=2)
    ax.set_xticks(dks)
    ax.set_xticklabels([str(d) for d in dks])
    ax.set_xlabel("$d_k$")
    if d_model and max(dks) > d_model:
        # Named in the legend rather than by a label on the plot, where it sat on the curves.
        ax.axvspan(d_model * 1.2, max(dks) * 1.5, color="0.92", zorder=0, label="d_k > d_model (extreme)")


def seeds_note(rows):
    counts = sorted({len(v) for v in cells(rows, ("task", "arm", "d_k", "lr", "heads")).values()})
    n = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
    return f"{n} seeds per point; bands: 95% intervals over seeds (geometric for losses, norms and logits; see summary.md)"


def classifies(rows, task):
    """Whether `task`'s runs are classification runs (they log accuracy)."""
    return any(r["classifies"] for r in rows if r["task"] == task)


def fig_final_vs_dk(rows, task, out, written):
    rows = [r for r in rows if r["task"] == task]
    dks = sorted({r["d_k"] for r in rows})
    by = cells(complete(rows), ("scale", "d_k"))
    accuracy = classifies(rows, task)
    fig, axes = plt.subplots(1, 2 if accuracy else 1, figsize=(11 if accuracy else 6, 4), squeeze=False)
    for scale in SCALES:
        line_with_band(axes[0][0], dks, [geomean_interval([r["eval_end"] for r in by.get((scale, d), [])]) for d in dks],
                       COLORS[scale], scale)
        if accuracy:
            line_with_band(axes[0][1], dks, [mean_interval([r["eval_acc_end"] for r in by.get((scale, d), [])], UNIT) for d in dks],
                           COLORS[scale], scale)
    axes[0][0].set_yscale("log")
    axes[0][0].set_ylabel("final held-out loss")
    if accuracy:
        axes[0][1].set_ylabel("final held-out accuracy")
    for ax in axes[0]:
        log_dk_axis(ax, dks, rows[0]["d_model"])
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{task}: final held-out loss against $d_k$ (d_v = {rows[0]['d_v']}, lr {fmt(rows[0]['lr'])})\n"
                 + seeds_note(rows), fontsize=9)
    save(fig, out, f"final_loss_vs_dk_{task}", written)


def fig_loss_vs_step(rows, runs_by_name, task, out, written):
    rows = [r for r in rows if r["task"] == task]
    dks = sorted({r["d_k"] for r in rows})
    shown = [d for d in (4, 32, 128) if d in dks] or dks[:3]
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.6), squeeze=False, sharey=True)
    for ax, d in zip(axes[0], shown):
        for scale in ("none", "sqrt", "linear"):
            runs = [runs_by_name[r["_name"]] for r in complete(rows) if r["scale"] == scale and r["d_k"] == d]
            if not runs:
                continue
            n = min(len(r.series["eval/step"]) for r in runs)
            steps = runs[0].series["eval/step"][:n]
            line_with_band(ax, steps, [geomean_interval([r.series["eval/loss"][i] for r in runs]) for i in range(n)],
                           COLORS[scale], scale)
        ax.set_yscale("log")
        ax.set_title(f"$d_k$ = {d}", fontsize=9)
        ax.set_xlabel("step")
    axes[0][0].set_ylabel("held-out loss")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{task}: held-out loss during training; " + seeds_note(rows), fontsize=9)
    save(fig, out, f"loss_vs_step_{task}", written)


INIT_PANELS = (("logit_grad/median@0", "median over rows of ‖∂L/∂S_row‖"),
               ("q_grad/median@0", "median over rows of ‖∂L/∂q‖"),
               ("q_grad/mean@0", "mean over rows of ‖∂L/∂q‖"),
               ("grad_norm/W_Q@0", "‖∇W^Q‖ (Frobenius)"))


def fig_init_gradients(rows, task, out, written):
    rows = [r for r in complete(rows) if r["task"] == task]
    dks = sorted({r["d_k"] for r in rows})
    by = cells(rows, ("scale", "d_k"))
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    for ax, (key, title) in zip(axes, INIT_PANELS):
        for scale in ("none", "sqrt", "linear"):
            line_with_band(ax, dks, [geomean_interval([r[key] for r in by.get((scale, d), [])]) for d in dks],
                           COLORS[scale], scale)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        log_dk_axis(ax, dks, rows[0]["d_model"])
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{task}: gradients at initialisation (step 0); " + seeds_note(rows), fontsize=9)
    save(fig, out, f"init_gradients_vs_dk_{task}", written)


def fig_saturation(rows, task, out, written):
    rows = [r for r in complete(rows) if r["task"] == task]
    dks = sorted({r["d_k"] for r in rows})
    by = cells(rows, ("scale", "d_k"))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, key, title in ((axes[0], "saturated_fraction", "share of rows with max weight > 0.99"),
                           (axes[1], "attn_entropy", "attention entropy (nats)")):
        for scale in ("none", "sqrt", "linear"):
            for when, dash in (("0", "--"), ("end", "-")):
                line_with_band(ax, dks, [mean_interval([r[f"{key}@{when}"] for r in by.get((scale, d), [])], UNIT if key == "saturated_fraction" else (0, math.inf)) for d in dks],
                               COLORS[scale], f"{scale} at {'init' if when == '0' else 'end'}", dash)
        ax.set_title(title, fontsize=9)
        log_dk_axis(ax, dks, rows[0]["d_model"])
    axes[1].axhline(math.log(16), color="0.5", lw=0.8, ls=":")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{task}: softmax saturation at initialisation (dashed) and at the end (solid); " + seeds_note(rows), fontsize=9)
    save(fig, out, f"saturation_vs_dk_{task}", written)


COORD_ROWS = (("logit_std", "std of S"), ("logit_max_abs", "max |S|"), ("logit_delta_rms", "rms change of S in one update"))


def fig_coord_check(rows, task, out, written):
    rows = [r for r in complete(rows) if r["task"] == task]
    dks = sorted({r["d_k"] for r in rows})
    by = cells(rows, ("scale", "d_k"))
    fig, axes = plt.subplots(3, len(SCALES), figsize=(3.4 * len(SCALES), 8.4), sharey="row")
    for j, scale in enumerate(SCALES):
        for i, (key, title) in enumerate(COORD_ROWS):
            ax = axes[i][j]
            for s in COORD_STEPS:
                line_with_band(ax, dks, [geomean_interval([r[f"{key}@{s}"] for r in by.get((scale, d), [])]) for d in dks],
                               STEP_COLORS[s], f"step {s}")
            ax.set_yscale("log")
            log_dk_axis(ax, dks, rows[0]["d_model"])
            if i == 0:
                ax.set_title(scale, fontsize=10)
            if j == 0:
                ax.set_ylabel(title)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{task}: coordinate check (Yang et al.): the logits against $d_k$ at steps 0, 1, 10, 100 and the end; "
                 + seeds_note(rows), fontsize=9)
    save(fig, out, f"coord_check_{task}", written)


# ---- The learning-rate sweep -----------------------------------------------------------------------------

class LrCell:
    """One (task, d_k, arm) of the learning-rate sweep."""

    def __init__(self, lrs, per_seed, sens, not_complete, incomplete_seeds):
        self.lrs = lrs
        self.per_seed = per_seed  # {seed: [final loss per lr, capped at the loss at init]}
        self.losses = [geomean_interval([v[i] for v in per_seed.values()]) for i in range(len(lrs))]
        self.sens = sens
        self.not_complete = not_complete          # diverged or unfinished runs (counted as the loss at init)
        self.incomplete_seeds = incomplete_seeds  # seeds without every lr: left out, and said so
        self.best = int(np.nanargmin([iv.value for iv in self.losses]))
        # How many seeds have their own best lr there: the best lr's uncertainty.
        self.seeds_agreeing = sum(int(np.argmin(v)) == self.best for v in per_seed.values())

    def best_loss_of(self, seed):
        return self.per_seed[seed][self.best]


def lr_table(rows):
    """{(task, d_k, arm): LrCell}. A diverged (or unfinished) run counts with the loss at initialisation,
    as in the LR-sensitivity number; a seed that lacks a learning rate is left out and counted."""
    out = {}
    for (task, d_k, arm), members in sorted(cells(rows, ("task", "d_k", "arm")).items(), key=str):
        lrs = sorted({r["lr"] for r in members})
        by_seed = defaultdict(dict)
        for r in members:
            by_seed[r["seed"]][r["lr"]] = r
        per_seed, sens, not_complete, incomplete = {}, [], 0, 0
        for seed, by_lr in sorted(by_seed.items()):
            if len(by_lr) != len(lrs):
                incomplete += 1
                continue
            init = by_lr[lrs[0]]["eval_init"]
            losses = [by_lr[lr]["eval_end"] for lr in lrs]
            not_complete += sum(by_lr[lr]["status"] != "complete" for lr in lrs)
            per_seed[seed] = [init if not np.isfinite(v) else min(v, init) for v in losses]
            sens.append(stats.lr_sensitivity(losses, init))
        if per_seed:
            out[(task, d_k, arm)] = LrCell(lrs, per_seed, mean_interval(sens, (0.0, math.inf)), not_complete, incomplete)
    return out


def fig_lr(table, task, out, written, note):
    dks = sorted({d for (t, d, _) in table if t == task})
    fig, axes = plt.subplots(1, len(dks), figsize=(4.6 * len(dks), 3.9), squeeze=False, sharey=True)
    for ax, d in zip(axes[0], dks):
        for arm in ARMS:
            if (task, d, arm) not in table:
                continue
            c = table[(task, d, arm)]
            line_with_band(ax, c.lrs, c.losses, COLORS[arm], f"{arm} (sens. {fmt(c.sens.value)})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("learning rate (Adam)")
        ax.set_title(f"$d_k$ = {d}" + (" (> d_model: extreme)" if d > 32 else ""), fontsize=9)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("final held-out loss (diverged: loss at init)")
    fig.suptitle(f"{task}: learning-rate sensitivity (Wortsman et al. 2023); {note}", fontsize=9)
    save(fig, out, f"lr_sensitivity_{task}", written)


# ---- Heads -------------------------------------------------------------------------------------------

def fig_heads(rows, task, out, written):
    rows = [r for r in complete(rows) if r["task"] == task]
    heads = sorted({r["heads"] for r in rows})
    by = cells(rows, ("scale", "heads"))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for scale in ("none", "sqrt", "linear"):
        line_with_band(axes[0], heads, [geomean_interval([r["eval_end"] for r in by.get((scale, h), [])]) for h in heads],
                       COLORS[scale], scale)
        line_with_band(axes[1], heads, [mean_interval([r["saturated_fraction@0"] for r in by.get((scale, h), [])], UNIT) for h in heads],
                       COLORS[scale], f"{scale} at init", "--")
        line_with_band(axes[1], heads, [mean_interval([r["saturated_fraction@end"] for r in by.get((scale, h), [])], UNIT) for h in heads],
                       COLORS[scale], f"{scale} at end")
    d_model = rows[0]["d_model"]
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks(heads)
        ax.set_xticklabels([f"{h}\n($d_k$={d_model // h})" for h in heads])
        ax.set_xlabel("heads h")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("final held-out loss")
    axes[1].set_ylabel("share of rows with max weight > 0.99")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=7)
    fig.suptitle(f"{task}: multi-head attention at d_model = {d_model}, d_k = d_v = d_model/h; " + seeds_note(rows), fontsize=9)
    save(fig, out, f"heads_{task}", written)


# ---- Summary -------------------------------------------------------------------------------------------

def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def summary_dk(rows, tasks):
    parts = []
    rows = complete(rows)
    by = cells(rows, ("task", "scale", "d_k"))
    for task in tasks:
        dks = sorted({r["d_k"] for r in rows if r["task"] == task})
        table = []
        for d in dks:
            row = [d]
            for scale in SCALES:
                row.append(fmt_interval(geomean_interval([r["eval_end"] for r in by.get((task, scale, d), [])])))
            table.append(row)
        parts.append(f"#### {task}: final held-out loss (geometric mean over seeds [95% interval])\n\n"
                     + md_table(["d_k"] + list(SCALES), table))
        if classifies(rows, task):
            table = [[d] + [fmt_interval(mean_interval([r["eval_acc_end"] for r in by.get((task, s, d), [])], UNIT)) for s in SCALES]
                     for d in dks]
            parts.append(f"#### {task}: final held-out accuracy\n\n" + md_table(["d_k"] + list(SCALES), table))
        table = []
        for d in dks:
            row = [d]
            for key in ("logit_grad/median@0", "q_grad/median@0", "q_grad/mean@0", "grad_norm/W_Q@0"):
                for scale in ("none", "sqrt"):
                    row.append(fmt_interval(geomean_interval([r[key] for r in by.get((task, scale, d), [])])))
            table.append(row)
        parts.append(f"#### {task}: gradients at initialisation, unscaled (none) against scaled (sqrt): geometric mean "
                     "over seeds [95% t interval of the logs]\n\n"
                     + md_table(["d_k", "median ‖∂L/∂S_row‖ none", "sqrt", "median ‖∂L/∂q‖ none", "sqrt",
                                 "mean ‖∂L/∂q‖ none", "sqrt", "‖∇W^Q‖ none", "sqrt"], table))
        table = []
        for d in dks:
            row = [d]
            for key in ("saturated_fraction@0", "saturated_fraction@end", "attn_entropy@0"):
                for scale in ("none", "sqrt"):
                    row.append(fmt_interval(mean_interval([r[key] for r in by.get((task, scale, d), [])], UNIT if key.startswith("saturated") else (0, math.inf))))
            table.append(row)
        parts.append(f"#### {task}: saturation (share of rows with max weight > 0.99) and entropy (nats; ln 16 = 2.77)\n\n"
                     + md_table(["d_k", "saturated @init none", "sqrt", "saturated @end none", "sqrt",
                                 "entropy @init none", "sqrt"], table))
        for scale in ("none", "sqrt", "linear"):
            table = []
            for d in dks:
                members = by.get((task, scale, d), [])
                row = [d]
                row += [fmt_interval(geomean_interval([r[f"logit_std@{s}"] for r in members])) for s in COORD_STEPS]
                row += [fmt_interval(geomean_interval([r[f"logit_max_abs@{s}"] for r in members])) for s in (0, "end")]
                row += [fmt_interval(geomean_interval([r[f"logit_delta_rms@{s}"] for r in members])) for s in (0, 10, "end")]
                table.append(row)
            parts.append(f"#### {task}, scale {scale}: coordinate check (geometric mean over seeds [95% interval])\n\n"
                         + md_table(["d_k"] + [f"std S @{s}" for s in COORD_STEPS] + ["max |S| @0", "max |S| @end",
                                                                                   "Δ S rms @0", "Δ S rms @10", "Δ S rms @end"], table))
        none = [r for r in rows if r["task"] == task and r["scale"] == "none"]
        table = []
        for d in dks:
            members = [r for r in none if r["d_k"] == d]
            drop = mean_interval([r["eval_50"] - r["eval_end"] for r in members])
            table.append([d, fmt_interval(geomean_interval([r["eval_50"] for r in members])),
                          fmt_interval(geomean_interval([r["eval_end"] for r in members])), fmt_interval(drop)])
        parts.append(f"#### {task}, unscaled (none): does the held-out loss still fall after step 50?\n\n"
                     + md_table(["d_k", "loss @50", "loss @end", "fall after step 50 (paired)"], table))
    return parts


def summary_lr(table, tasks, raw_rows):
    parts = []
    for task in tasks:
        keys = sorted((k for k in table if k[0] == task), key=lambda k: (k[1], ARMS.index(k[2])))
        if not keys:
            continue
        lrs = table[keys[0]].lrs
        rows = []
        for k in keys:
            c = table[k]
            edge = " (grid edge)" if c.best in (0, len(c.lrs) - 1) else ""
            rows.append([k[1], k[2], fmt(c.lrs[c.best]) + edge, fmt_interval(c.losses[c.best]), fmt_interval(c.sens),
                         f"{c.seeds_agreeing} of {len(c.per_seed)}", c.not_complete,
                         c.incomplete_seeds])
        parts.append(f"#### {task}: learning-rate sensitivity over lr {fmt(lrs[0])} … {fmt(lrs[-1])} "
                     f"({len(lrs)} values; Wortsman et al. 2023: mean over the grid of min(loss, loss at init) − "
                     "the best loss; sensitivity: mean over seeds [95% t interval]; loss: geometric mean). The best lr "
                     "minimises the geometric mean; 'seeds agreeing' have their own minimum there. The µP arm's "
                     "query/key learning rates are the grid's divided by √d_k.\n\n"
                     + md_table(["d_k", "arm", "best lr", "loss at best lr", "LR sensitivity", "seeds agreeing",
                                 "runs not complete", "seeds left out"], rows))
        rows = [[k[1], k[2]] + [fmt_interval(iv) for iv in table[k].losses] for k in keys]
        parts.append(f"#### {task}: final held-out loss at each learning rate (diverged: loss at init)\n\n"
                     + md_table(["d_k", "arm"] + [fmt(lr) for lr in lrs], rows))
        # Paired over seeds (the same seed gives the same initial weights and data for every arm): each arm at
        # its best lr against sqrt at sqrt's best lr.
        rows = []
        for d_k in sorted({k[1] for k in keys}):
            ref = table.get((task, d_k, "sqrt"))
            for arm in ("none", "linear", MUP_ARM):
                c = table.get((task, d_k, arm))
                if ref is None or c is None:
                    continue
                seeds = sorted(set(ref.per_seed) & set(c.per_seed))
                ratios = [c.best_loss_of(sd) / ref.best_loss_of(sd) for sd in seeds]
                rows.append([d_k, arm, fmt_interval(geomean_interval(ratios)), len(seeds)])
        parts.append(f"#### {task}: best loss of each arm over best loss of sqrt, paired by seed (geometric mean of the "
                     "per-seed ratios [95% interval]; below 1: better than sqrt)\n\n"
                     + md_table(["d_k", "arm", "loss ratio to sqrt", "seeds"], rows))
        # The µP test in one number: how far the first update moves S. With Adam it is set by the scale and
        # the lr, not by the gradient, so the arm should match linear here if the explanation is right.
        lr_mid = min(lrs, key=lambda lr: abs(math.log(lr / 0.01)))
        by = cells([r for r in raw_rows if r["task"] == task and r["lr"] == lr_mid], ("d_k", "arm"))
        rows = [[k[1], k[2], fmt_interval(geomean_interval([r["logit_delta_rms@0"] for r in by.get((k[1], k[2]), [])]))]
                for k in keys]
        parts.append(f"#### {task}: rms change of S in the first update at lr {fmt(lr_mid)} (geometric mean over seeds "
                     "[95% interval])\n\n" + md_table(["d_k", "arm", "Δ S rms @0"], rows))
    return parts


def summary_heads(rows, tasks):
    parts = []
    rows = complete(rows)
    by = cells(rows, ("task", "scale", "heads"))
    for task in tasks:
        heads = sorted({r["heads"] for r in rows if r["task"] == task})
        if not heads:
            continue
        d_model = rows[0]["d_model"]
        table = []
        for h in heads:
            row = [h, d_model // h]
            row += [fmt_interval(geomean_interval([r["eval_end"] for r in by.get((task, s, h), [])])) for s in ("none", "sqrt", "linear")]
            row += [fmt_interval(mean_interval([r["saturated_fraction@0"] for r in by.get((task, s, h), [])], UNIT)) for s in ("none", "sqrt")]
            table.append(row)
        parts.append(f"#### {task}: heads at d_model = {d_model} (d_k = d_v = d_model/h): final held-out loss and "
                     "saturated rows at initialisation\n\n"
                     + md_table(["h", "d_k", "loss none", "loss sqrt", "loss linear", "saturated @init none", "sqrt"], table))
    return parts


def settings_line(rows):
    fixed = {}
    for key in ("d_model", "d_v", "steps", "lr"):
        values = sorted({r[key] for r in rows if r[key] is not None})
        fixed[key] = ", ".join(fmt(v) if isinstance(v, float) else str(v) for v in values)
    seeds = sorted({r["seed"] for r in rows})
    return "; ".join(f"{k} {v}" for k, v in fixed.items()) + f"; seeds {seeds[0]}–{seeds[-1]} ({len(seeds)})"


# ---- Main ----------------------------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(prog="sqrtdk study", description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--study", required=True, help="directory with dk.h5, heads.h5, lr.h5 (any of them)")
    p.add_argument("--out", required=True, help="writes OUT/summary.md and OUT/figures/*.png|svg")
    p.add_argument("--theory", help="theory.h5 whose Monte Carlo the initialisation map draws (default: next to --study)")
    args = p.parse_args(argv)
    if not os.path.isdir(args.study):
        raise InputError(f"{args.study}: not a directory")
    data = {name: load_rows(os.path.join(args.study, f"{name}.h5")) for name in ("dk", "heads", "lr")}
    wide_files = [s for s in wide.FILES if os.path.exists(os.path.join(args.study, f"{s}.h5"))]
    if all(v is None for v in data.values()) and not wide_files:
        raise InputError(f"{args.study}: none of dk.h5, heads.h5, lr.h5, wide_*.h5 is there")
    os.makedirs(os.path.join(args.out, "figures"), exist_ok=True)
    written = []
    sections = ["# The √d_k study: summary", "",
                "Generated by `python3 -m sqrtdk study` (`experiments/sqrtdk/study.py`) from the run files of `experiments/study/*.ini` "
                "(run by `experiments/reproduce.sh`). Losses are the held-out evaluation's (`eval/loss`) at the "
                "end of training. Intervals: " + T_NOTE + "."]

    rows = data["dk"]
    if rows:
        runs_by_name = {}
        for r, run in zip(rows, reader.load_runs([os.path.join(args.study, "dk.h5")])):
            r["_name"] = run.name
            runs_by_name[run.name] = run
        tasks = sorted({r["task"] for r in rows}, key=task_sort_key)
        sections.append(f"\n## d_k grid (`experiments/study/dk.ini`): {len(complete(rows))} of {len(rows)} runs complete; "
                        + settings_line(rows) + "\n")
        sections += summary_dk(rows, tasks)
        for task in tasks:
            fig_final_vs_dk(rows, task, args.out, written)
            fig_loss_vs_step(rows, runs_by_name, task, args.out, written)
            fig_init_gradients(rows, task, args.out, written)
            fig_saturation(rows, task, args.out, written)
            fig_coord_check(rows, task, args.out, written)
    rows = data["lr"]
    if rows:
        tasks = sorted({r["task"] for r in rows}, key=task_sort_key)
        table = lr_table(rows)
        sections.append(f"\n## Learning-rate sweep (`experiments/study/lr.ini` and `lr_mup.ini`): {len(rows)} runs, "
                        f"{sum(r['status'] == 'diverged' for r in rows)} diverged; " + settings_line(rows) + "\n")
        sections += summary_lr(table, tasks, rows)
        for task in tasks:
            fig_lr(table, task, args.out, written, seeds_note(rows))
    rows = data["heads"]
    if rows:
        tasks = sorted({r["task"] for r in rows}, key=task_sort_key)
        sections.append(f"\n## Heads (`experiments/study/heads.ini`): {len(complete(rows))} of {len(rows)} runs complete; "
                        + settings_line(rows) + "\n")
        sections += summary_heads(rows, tasks)
        for task in tasks:
            fig_heads(rows, task, args.out, written)
    theory = args.theory or os.path.join(os.path.dirname(os.path.abspath(args.study)), "theory.h5")
    sections += wide.sections(args.study, args.out, written, theory)
    lm = os.path.join(args.study, "lm.h5")  # the language model's grid: its own module draws and summarises it
    if os.path.exists(lm):
        sections += lm_figures.summary_and_figures(lm, args.out, written)
    missing = [f"{k}.h5" for k, v in data.items() if v is None]
    if missing:
        sections.append("\nNot in this summary (file missing): " + ", ".join(missing))
    with open(os.path.join(args.out, "summary.md"), "w", encoding="utf-8") as f:
        f.write("\n\n".join(s for s in sections) + "\n")
    print(f"wrote {os.path.join(args.out, 'summary.md')} and {len(written)} figures (PNG + SVG) in "
          f"{os.path.join(args.out, 'figures')}")
    return 0
