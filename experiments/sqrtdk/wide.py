"""The study at the widths real transformers use (d_model 512, d_k 16…512, n 16…256): its figures and its
section of results/summary.md, from the run files of experiments/study/wide_*.ini.

    PYTHONPATH=experiments $PY -m sqrtdk study --study results/study --out results

(study.py calls `sections` when results/study/wide_*.h5 exist). Every number is a statistic over seeds with
its 95% interval (stats.py). Figures:
  wide_init_map          at initialisation, against d_k, one line per n: the share of saturated rows (the
                         Monte Carlo of `sandbox theory` drawn over it), and the per-row medians of ‖∂L/∂S‖
                         and ‖∂L/∂q‖, unscaled against sqrt; d_model 128 as open markers
  wide_loss_vs_step      held-out loss against step at d_k 64 and 512, none against sqrt, Adam and SGD, each
                         scale at its own best learning rate
  wide_chain             along the steps at d_k 512, n 16, both scales at sqrt's best learning rate: the
                         change of S per update, the logits' spread, the saturated share, median ‖∂L/∂q‖
  wide_lr_sensitivity    final held-out loss against the learning rate, Adam and SGD, per d_k, per n
  wide_heads             one head of d_k 64 against 8 heads of d_k 64 at d_model 512
  wide_precision         exact zeros of ∂L/∂S_row and top weights of exactly 1, float32 against float64
A run that diverged counts with its loss at initialisation (it learned nothing), as in the LR sensitivity.
"""

import math
import os
from collections import defaultdict

import numpy as np
import matplotlib.pyplot as plt

from . import reader, stats, style
from .stats import cells, fmt, fmt_interval, geomean_interval, mean_interval

FILES = ("wide_init", "wide_train", "wide_sharp", "wide_heads", "wide_precision")
CHAIN_STEPS = (0, 1, 10, "end")
CHAIN_KEYS = ("logit_delta_rms", "logit_std", "saturated_fraction", "q_grad/median", "logit_grad/median",
              "logit_grad/zero_fraction", "top_weight_one_fraction")
UNIT = (0.0, 1.0)
N_STYLES = {16: "-", 64: "-.", 256: "--"}
N_COLORS = {16: "#4c72b0", 64: "#8172b2", 256: "#c44e52"}


def row_of(run):
    a = run.attrs
    row = {k: a.get(k) for k in ("task", "scale", "d_k", "d_v", "d_model", "heads", "seq_len", "batch", "lr",
                                 "optimizer", "precision", "seed", "steps", "teacher_temperature")}
    row["status"] = "diverged" if reader.diverged_at(run) is not None else run.status
    ev = run.series.get("eval/loss", np.array([]))
    row["eval_init"] = float(ev[0]) if len(ev) else math.nan
    row["eval_end"] = float(ev[-1]) if len(ev) and row["status"] == "complete" else math.nan
    row["eval_steps"], row["eval_losses"] = run.series.get("eval/step"), ev
    for key in CHAIN_KEYS:
        for s in CHAIN_STEPS:
            row[f"{key}@{s}"] = reader.series_at(run, key, s)
        row[f"{key}@all"] = run.series.get(key)
    return row


def load(study_dir):
    """{file stem: rows} of the wide_*.h5 files that exist."""
    out = {}
    for stem in FILES:
        path = os.path.join(study_dir, f"{stem}.h5")
        if os.path.exists(path):
            out[stem] = [row_of(r) for r in reader.load_runs([path])]
    return out


def capped_loss(r):
    """The final held-out loss, or the loss at initialisation for a run that diverged or got worse."""
    v = r["eval_end"]
    return r["eval_init"] if not np.isfinite(v) else min(v, r["eval_init"])


class Best:
    """One (settings…, scale) cell of a learning-rate sweep: the loss per lr over seeds and the best lr."""

    def __init__(self, members):
        self.lrs = sorted({r["lr"] for r in members})
        by_seed = defaultdict(dict)
        for r in members:
            by_seed[r["seed"]][r["lr"]] = r
        self.per_seed = {s: [capped_loss(v[lr]) for lr in self.lrs] for s, v in by_seed.items() if len(v) == len(self.lrs)}
        self.losses = [geomean_interval([v[i] for v in self.per_seed.values()]) for i in range(len(self.lrs))]
        self.best = int(np.nanargmin([iv.value for iv in self.losses]))
        self.lr = self.lrs[self.best]
        self.diverged = sum(r["status"] == "diverged" for r in members)
        self.runs = {s: v[self.lr] for s, v in by_seed.items() if self.lr in v}
        self.sens = mean_interval([stats.lr_sensitivity(v, by_seed[s][self.lrs[0]]["eval_init"]) for s, v in self.per_seed.items()],
                                  (0.0, math.inf))

    def loss(self):
        return self.losses[self.best]


def best_table(rows, keys):
    """{(keys…, scale): Best}"""
    return {k: Best(v) for k, v in cells(rows, keys + ("scale",)).items()}


def paired_ratio(a, b):
    """The geometric mean over seeds of a's best loss over b's (each at its own best lr), paired by seed."""
    seeds = sorted(set(a.per_seed) & set(b.per_seed))
    return geomean_interval([a.per_seed[s][a.best] / b.per_seed[s][b.best] for s in seeds])


def settings(rows, extra=""):
    seeds = sorted({r["seed"] for r in rows})
    prec = "/".join(sorted({r["precision"] for r in rows}))
    opts = "/".join(sorted({r["optimizer"] for r in rows}))
    dm = "/".join(str(d) for d in sorted({r["d_model"] for r in rows}))
    return f"d_model {dm}, {opts}, {prec}, {len(seeds)} seeds{extra}; bands and intervals: 95% over seeds"


def save(fig, out, name, written):
    style.save(fig, os.path.join(out, "figures"), name)
    written.append(name)


def dk_axis(ax, dks):
    ax.set_xscale("log", base=2)
    ax.set_xticks(dks)
    ax.set_xticklabels([str(d) for d in dks])
    ax.set_xlabel("$d_k$")


# ---- The initialisation map ------------------------------------------------------------------------------

def init_cells(rows):
    single = [r for r in rows if r["heads"] == 1 and r["precision"] == "float32"]
    return cells(single, ("d_model", "seq_len", "d_k", "scale"))


def fig_init_map(rows, theory, out, written):
    by = init_cells(rows)
    dks = sorted({d for (dm, n, d, s) in by if dm == 512})
    ns = sorted({n for (dm, n, d, s) in by if dm == 512})
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), layout="constrained")
    for n in ns:
        c = N_COLORS.get(n, "0.3")
        style.interval_line(axes[0], dks, [mean_interval([r["saturated_fraction@0"] for r in by.get((512, n, d, "none"), [])], UNIT) for d in dks],
                  c, f"n = {n}", N_STYLES.get(n, "-"))
        small = sorted({d for (dm, nn, d, s) in by if dm != 512 and nn == n})
        if small:
            style.interval_line(axes[0], small, [mean_interval([r["saturated_fraction@0"] for r in by.get((128, n, d, "none"), [])], UNIT) for d in small],
                      c, f"n = {n}, d_model 128", ":", fill="none")
        for ax, key in ((axes[1], "logit_grad/median@0"), (axes[2], "q_grad/median@0")):
            for scale, dash in (("none", "--"), ("sqrt", "-")):
                style.interval_line(ax, dks, [geomean_interval([r[key] for r in by.get((512, n, d, scale), [])]) for d in dks],
                          c, f"n = {n}, {scale}", dash, marker="o" if scale == "none" else "s")
    if theory is not None:
        axes[0].plot(theory["d_k"], theory["sat"], color="k", lw=1, alpha=0.6,
                     label=f"Monte Carlo, {theory['keys']} keys (sandbox theory)")
        axes[0].set_xlim(min(dks) / 1.3, max(dks) * 1.3)
    axes[0].set_ylabel("saturated rows at init, unscaled (top weight > 0.99)")
    axes[1].set_ylabel("median ‖∂L/∂S_row‖ at init")
    axes[2].set_ylabel("median ‖∂L/∂q_row‖ at init")
    for ax in axes:
        dk_axis(ax, dks)
        ax.legend(fontsize=6.5)
    for ax in axes[1:]:
        ax.set_yscale("log")
    axes[0].set_title("unscaled: saturated share", fontsize=9)
    axes[1].set_title("gradient through the softmax (none dashed, sqrt solid)", fontsize=9)
    axes[2].set_title("gradient at the queries (weight space)", fontsize=9)
    fig.suptitle("Initialisation map, task teacher, one head, 1024 rows per batch: "
                 + settings([r for r in rows if r["heads"] == 1 and r["precision"] == "float32"]), fontsize=9)
    save(fig, out, "wide_init_map", written)


def summary_init(rows):
    by = init_cells(rows)
    dks = sorted({d for (dm, n, d, s) in by if dm == 512})
    ns = sorted({n for (dm, n, d, s) in by if dm == 512})
    table = []
    for n in ns:
        for d in dks:
            none, sq = by.get((512, n, d, "none"), []), by.get((512, n, d, "sqrt"), [])
            if not none or not sq:
                continue
            ratio_s = geomean_interval([a["logit_grad/median@0"] / b["logit_grad/median@0"] for a, b in _paired(none, sq)])
            ratio_q = geomean_interval([a["q_grad/median@0"] / b["q_grad/median@0"] for a, b in _paired(none, sq)])
            table.append([str(n), str(d), fmt_interval(mean_interval([r["saturated_fraction@0"] for r in none], UNIT)),
                          fmt_interval(geomean_interval([r["logit_std@0"] for r in none])),
                          fmt_interval(ratio_s), fmt_interval(ratio_q)])
    contrast = []
    for (dm, n, d, s), members in sorted(by.items()):
        if dm != 512 and s == "none" and (512, n, d, "none") in by:
            contrast.append([str(n), str(d), fmt_interval(mean_interval([r["saturated_fraction@0"] for r in members], UNIT)),
                             fmt_interval(mean_interval([r["saturated_fraction@0"] for r in by[(512, n, d, "none")]], UNIT)),
                             fmt_interval(geomean_interval([r["logit_std@0"] for r in members]))])
    parts = ["### At initialisation (`wide_init.ini`, one step each; figure `wide_init_map`)\n",
             "Unscaled, per n and d_k at d_model 512: the share of saturated rows, the logits' spread (std of S), and "
             "the per-row medians of ‖∂L/∂S‖ and ‖∂L/∂q‖ relative to sqrt's (ratio < 1: smaller unscaled; paired by seed)\n",
             md_table(["n", "d_k", "saturated (none)", "logit std (none)", "‖∂L/∂S‖ none/sqrt", "‖∂L/∂q‖ none/sqrt"], table)]
    if contrast:
        parts += ["\nd_model is not the cause: unscaled at d_model 128 against 512, the same d_k and n\n",
                  md_table(["n", "d_k", "saturated, d_model 128", "saturated, d_model 512", "logit std, d_model 128"], contrast)]
    return parts


def _paired(a, b):
    bs = {r["seed"]: r for r in b}
    return [(r, bs[r["seed"]]) for r in a if r["seed"] in bs]


# ---- Training: where unscaled first does worse -------------------------------------------------------------

def fig_loss_vs_step(rows, table, out, written):
    opts = [o for o in ("adam", "sgd") if any(r["optimizer"] == o for r in rows)]
    dks = [d for d in (64, 512) if any(r["d_k"] == d for r in rows)]
    ns = sorted({r["seq_len"] for r in rows})
    fig, axes = plt.subplots(len(opts), len(dks), figsize=(5.2 * len(dks), 3.6 * len(opts)), squeeze=False, sharey=True, layout="constrained")
    for i, opt in enumerate(opts):
        for j, d in enumerate(dks):
            ax = axes[i][j]
            for n in ns:
                for scale in ("none", "sqrt"):
                    cell = table.get((opt, n, d, scale))
                    if cell is None:
                        continue
                    runs = [r for r in cell.runs.values() if r["status"] == "complete"]
                    if not runs:
                        continue
                    k = min(len(r["eval_losses"]) for r in runs)
                    style.interval_line(ax, runs[0]["eval_steps"][:k], [geomean_interval([r["eval_losses"][t] for r in runs]) for t in range(k)],
                              style.color(scale), f"{scale}, n {n}, lr {fmt(cell.lr)}", N_STYLES.get(n, "-"), marker=None)
            ax.set_yscale("log")
            ax.set_title(f"{opt}, $d_k$ = {d}", fontsize=9)
            ax.set_xlabel("step")
            ax.legend(fontsize=6.5)
        axes[i][0].set_ylabel("held-out loss")
    fig.suptitle("Held-out loss against step, each scale at its own best learning rate (teacher, one head; n 16 solid, "
                 "256 dashed): " + settings(rows), fontsize=9)
    save(fig, out, "wide_loss_vs_step", written)


def fig_lr(rows, table, out, written, name, title):
    opts = [o for o in ("adam", "sgd") if any(r["optimizer"] == o for r in rows)]
    dks = sorted({r["d_k"] for r in rows})
    ns = sorted({r["seq_len"] for r in rows})
    fig, axes = plt.subplots(len(opts), len(dks), figsize=(4.3 * len(dks), 3.5 * len(opts)), squeeze=False, sharey="row", layout="constrained")
    for i, opt in enumerate(opts):
        for j, d in enumerate(dks):
            ax = axes[i][j]
            for n in ns:
                for scale in ("none", "sqrt"):
                    cell = table.get((opt, n, d, scale))
                    if cell is not None:
                        style.interval_line(ax, cell.lrs, cell.losses, style.color(scale), f"{scale}, n {n}", N_STYLES.get(n, "-"))
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(f"learning rate ({opt})")
            ax.set_title(f"{opt}, $d_k$ = {d}", fontsize=9)
            ax.legend(fontsize=6.5)
        axes[i][0].set_ylabel("final held-out loss\n(diverged: loss at init)")
    fig.suptitle(title + ": " + settings(rows), fontsize=9)
    save(fig, out, name, written)


def summary_train(rows, table):
    """The paired ratio none/sqrt of the best final loss per optimizer, n and d_k, and where it first
    exceeds 1 measurably (its interval above 1)."""
    out, first = [], []
    for opt in ("adam", "sgd"):
        for n in sorted({r["seq_len"] for r in rows}):
            found = None
            for d in sorted({r["d_k"] for r in rows}):
                a, b = table.get((opt, n, d, "none")), table.get((opt, n, d, "sqrt"))
                if a is None or b is None:
                    continue
                ratio = paired_ratio(a, b)
                worse = ratio.n > 1 and ratio.lo > 1.0
                if worse and found is None:
                    found = d
                out.append([opt, str(n), str(d), f"{fmt_interval(a.loss())} (lr {fmt(a.lr)}, {a.diverged} diverged)",
                            f"{fmt_interval(b.loss())} (lr {fmt(b.lr)}, {b.diverged} diverged)", fmt_interval(ratio),
                            "yes" if worse else "no"])
            first.append(f"- {opt}, n = {n}: " + (f"first at d_k = {found}" if found else "not at any d_k measured"))
    return ["### Training (`wide_train.ini`; figures `wide_loss_vs_step`, `wide_lr_sensitivity`)\n",
            "Final held-out loss at each scale's own best learning rate (geometric mean over seeds), and the paired ratio "
            "none/sqrt; \"worse\" when its 95% interval lies above 1.\n",
            md_table(["optimizer", "n", "d_k", "none", "sqrt", "none/sqrt", "worse"], out),
            "\nWhere unscaled training first does measurably worse than sqrt:\n", "\n".join(first)]


def chain_runs(table, opt, n, d):
    """Both scales' runs at sqrt's best learning rate (the rate a practitioner would pick), by scale."""
    sq = table.get((opt, n, d, "sqrt"))
    if sq is None:
        return sq, {}
    out = {}
    for scale in ("none", "sqrt"):
        cell = table.get((opt, n, d, scale))
        out[scale] = [r for r in cell.all_runs if r["lr"] == sq.lr] if cell else []
    return sq, out


def fig_chain(rows, table, out, written, d=512, n=16):
    opts = [o for o in ("adam", "sgd") if (o, n, d, "sqrt") in table]
    keys = [("logit_delta_rms", "rms change of S per update", True), ("logit_std", "std of the logits S", True),
            ("saturated_fraction", "saturated rows", False), ("q_grad/median", "median ‖∂L/∂q_row‖", True)]
    fig, axes = plt.subplots(len(opts), len(keys), figsize=(4.0 * len(keys), 3.3 * len(opts)), squeeze=False, layout="constrained")
    for i, opt in enumerate(opts):
        sq, by_scale = chain_runs(table, opt, n, d)
        for j, (key, label, log) in enumerate(keys):
            ax = axes[i][j]
            for scale, runs in by_scale.items():
                series = [r[f"{key}@all"] for r in runs if r[f"{key}@all"] is not None]
                if not series:
                    continue
                k = min(len(s) for s in series)
                agg = geomean_interval if log else (lambda v: mean_interval(v, UNIT))
                style.interval_line(ax, np.arange(k), [agg([s[t] for s in series]) for t in range(k)], style.color(scale), scale,
                          style.line_style(scale), marker=None)
            if log:
                ax.set_yscale("log")
                # The means set the range: a band over seeds whose gradients underflow spans hundreds of decades.
                means = np.concatenate([ln.get_ydata() for ln in ax.get_lines()] or [np.array([1.0])])
                means = means[np.isfinite(means) & (means > 0)]
                if len(means):
                    ax.set_ylim(means.min() / 3, means.max() * 3)
            ax.set_xscale("symlog", linthresh=1)
            ax.set_xlim(left=0)
            ax.set_xlabel("step")
            ax.set_title(f"{opt} lr {fmt(sq.lr)}: {label}", fontsize=8.5)
            ax.legend(fontsize=7)
    fig.suptitle(f"The chain along the steps at $d_k$ = {d}, n = {n}, both scales at sqrt's best learning rate "
                 "(a run that diverged stops; zeros are left out of the geometric means): " + settings(rows), fontsize=9)
    save(fig, out, "wide_chain", written)


def summary_chain(table, d=512, n=16):
    lines = []
    for opt in ("adam", "sgd"):
        sq, by_scale = chain_runs(table, opt, n, d)
        if sq is None:
            continue
        for scale, runs in by_scale.items():
            if not runs:
                continue
            row = [opt, fmt(sq.lr), scale, f"{sum(r['status'] == 'diverged' for r in runs)}/{len(runs)}",
                   fmt_interval(geomean_interval([r["logit_delta_rms@0"] for r in runs]))]
            for s in CHAIN_STEPS:
                row.append(fmt_interval(geomean_interval([r[f"logit_std@{s}"] for r in runs])))
            for s in (0, "end"):
                row.append(fmt_interval(mean_interval([r[f"saturated_fraction@{s}"] for r in runs], UNIT)))
            for s in (0, "end"):
                row.append(fmt_interval(geomean_interval([r[f"q_grad/median@{s}"] for r in runs])))
            row.append(fmt_interval(mean_interval([r["logit_grad/zero_fraction@end"] for r in runs], UNIT)))
            lines.append(row)
    header = ["optimizer", "lr", "scale", "diverged", "ΔS first update"] + [f"std S @{s}" for s in CHAIN_STEPS] + \
             ["saturated @0", "saturated @end", "‖∂L/∂q‖ @0", "‖∂L/∂q‖ @end", "∂L/∂S_row = 0 @end"]
    return [f"### The chain (`wide_train.ini`, d_k = {d}, n = {n}, both scales at sqrt's best lr; figure `wide_chain`)\n",
            "Geometric means for ΔS, std S and ‖∂L/∂q‖ (exact zeros left out), arithmetic for shares; \"end\" is the last "
            "logged step (a diverged run's last before it stopped)\n", md_table(header, lines)]


# ---- Heads, the sharp teacher, precision --------------------------------------------------------------------

def fig_heads(single, multi, init_rows, out, written):
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    st, mt = best_table(single, ("optimizer", "seq_len", "d_k")), best_table(multi, ("optimizer", "seq_len", "d_k"))
    labels, x = [], 0
    for opt in ("adam", "sgd"):
        for name, t, h in (("1 head", st, 1), ("8 heads", mt, 8)):
            for k, scale in enumerate(("none", "sqrt")):
                cell = t.get((opt, 16, 64, scale))
                if cell is None:
                    continue
                iv = cell.loss()
                err = [[iv.value - iv.lo], [iv.hi - iv.value]] if np.isfinite(iv.lo) else None
                axes[0].errorbar([x + 0.15 * k], [iv.value], yerr=err, fmt="o", color=style.color(scale),
                                 label=scale if x == 0 else None)
            labels.append(f"{opt}\n{name}")
            x += 1
    axes[0].set_xticks(range(len(labels)))
    axes[0].set_xticklabels(labels, fontsize=8)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("final held-out loss at the best lr")
    axes[0].set_title("d_k = 64, n = 16: one head against 8", fontsize=9)
    axes[0].legend(fontsize=7)
    by = cells([r for r in init_rows if r["precision"] == "float32" and r["d_model"] == 512], ("heads", "seq_len", "d_k", "scale"))
    for n in sorted({k[1] for k in by}):
        for multi_head in (False, True):
            keys = sorted(k for k in by if k[1] == n and k[3] == "none" and (k[0] > 1) == multi_head and
                          (multi_head or any(m[0] > 1 and m[2] == k[2] for m in by)))
            if keys:
                style.interval_line(axes[1], [k[2] for k in keys], [mean_interval([r["saturated_fraction@0"] for r in by[k]], UNIT) for k in keys],
                          N_COLORS.get(n, "0.3"), f"n {n}, " + ("h = 512/d_k heads" if multi_head else "one head"),
                          "--" if multi_head else "-", fill="none" if multi_head else "full")
    dk_axis(axes[1], sorted({k[2] for k in by if k[0] > 1}))
    axes[1].set_ylabel("saturated rows at init, unscaled")
    axes[1].set_title("saturation is set by d_k, not by the number of heads", fontsize=9)
    axes[1].legend(fontsize=7)
    fig.suptitle("Multi-head at d_model 512 (teacher): " + settings(single + multi), fontsize=9)
    save(fig, out, "wide_heads", written)


def summary_pair(title, rows_a, rows_b, label_a, label_b, keys=("optimizer", "seq_len", "d_k")):
    ta, tb = best_table(rows_a, keys), best_table(rows_b, keys)
    lines = []
    for k in sorted(set(ta) & set(tb), key=str):
        lines.append([" ".join(fmt(v) if isinstance(v, float) else str(v) for v in k), f"{fmt_interval(ta[k].loss())} (lr {fmt(ta[k].lr)})",
                      f"{fmt_interval(tb[k].loss())} (lr {fmt(tb[k].lr)})", fmt_interval(paired_ratio(ta[k], tb[k]))])
    return [title, md_table([" ".join(keys) + " scale", label_a, label_b, f"{label_a}/{label_b}"], lines)]


def fig_precision(f32, f64, init_rows, out, written):
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    init = cells([r for r in init_rows if r["heads"] == 1 and r["d_model"] == 512], ("precision", "seq_len", "d_k", "scale"))
    settings_ = sorted({(n, d) for (p, n, d, sc) in init if p == "float64" and sc == "none" and ("float32", n, d, "none") in init})
    for x, (n, d) in enumerate(settings_):
        for j, prec in enumerate(("float32", "float64")):
            iv = mean_interval([r["top_weight_one_fraction@0"] for r in init[(prec, n, d, "none")]], UNIT)
            axes[0].bar(x + 0.4 * j, iv.value, width=0.38, color=("#1f77b4", "#ff7f0e")[j], label=prec if x == 0 else None)
    zero = max((mean_interval([r["logit_grad/zero_fraction@0"] for r in rs], UNIT).value for rs in init.values()), default=math.nan)
    axes[0].set_xticks([i + 0.2 for i in range(len(settings_))])
    axes[0].set_xticklabels([f"n {n}\nd_k {d}" for n, d in settings_], fontsize=7)
    axes[0].set_ylabel("rows whose top weight is exactly 1")
    axes[0].legend(fontsize=7)
    axes[0].set_title(f"at initialisation, unscaled (rows with ∂L/∂S_row exactly 0: at most {fmt(zero)})", fontsize=9)
    keys = ("optimizer", "lr", "scale")
    a, b = cells(f32, keys), cells(f64, keys)
    names, x = [], 0
    for k in sorted(set(a) & set(b), key=str):
        for j, (rows, prec) in enumerate(((a[k], "float32"), (b[k], "float64"))):
            iv = mean_interval([r["logit_grad/zero_fraction@end"] for r in rows], UNIT)
            axes[1].bar(x + 0.4 * j, iv.value, width=0.38, color=("#1f77b4", "#ff7f0e")[j], label=prec if x == 0 else None)
        names.append(f"{k[0]} {fmt(k[1])}\n{k[2]}")
        x += 1
    axes[1].set_xticks([i + 0.2 for i in range(len(names))])
    axes[1].set_xticklabels(names, fontsize=7, rotation=30)
    axes[1].set_ylabel("rows with ∂L/∂S_row exactly 0, at the end")
    axes[1].legend(fontsize=7)
    axes[1].set_title("after training (wide_precision.ini against wide_train.ini), d_k 64, n 16", fontsize=9)
    fig.suptitle("The precision axis (teacher, one head): " + settings(f32 + f64, "; means over seeds"), fontsize=9)
    save(fig, out, "wide_precision", written)


def summary_precision(f32, f64, init_rows):
    lines = []
    init = cells([r for r in init_rows if r["heads"] == 1 and r["d_model"] == 512], ("precision", "seq_len", "d_k", "scale"))
    for k in sorted(init):
        if k[0] == "float64" and ("float32",) + k[1:] in init:
            for prec in ("float32", "float64"):
                rs = init[(prec,) + k[1:]]
                lines.append(["init", prec, f"n {k[1]} d_k {k[2]} {k[3]}",
                              fmt_interval(mean_interval([r["top_weight_one_fraction@0"] for r in rs], UNIT)),
                              fmt_interval(mean_interval([r["logit_grad/zero_fraction@0"] for r in rs], UNIT)), ""])
    keys = ("optimizer", "lr", "scale")
    a, b = cells(f32, keys), cells(f64, keys)
    for k in sorted(set(a) & set(b), key=str):
        pairs = _paired(a[k], b[k])
        agree = geomean_interval([x["eval_end"] / y["eval_end"] for x, y in pairs if x["status"] == y["status"] == "complete"])
        for prec, rs in (("float32", a[k]), ("float64", b[k])):
            lines.append(["end", prec, f"{k[0]} lr {fmt(k[1])} {k[2]}",
                          fmt_interval(mean_interval([r["top_weight_one_fraction@end"] for r in rs], UNIT)),
                          fmt_interval(mean_interval([r["logit_grad/zero_fraction@end"] for r in rs], UNIT)),
                          fmt_interval(agree) if prec == "float32" else ""])
    return ["### Precision (`wide_init.ini` float64 twins, `wide_precision.ini`; figure `wide_precision`)\n",
            "Shares of rows (teacher, d_model 512, one head) whose top weight is exactly 1 and whose ‖∂L/∂S_row‖ is exactly 0 "
            "in the run's precision; the last column: final loss float32/float64, paired by seed (complete runs)\n",
            md_table(["when", "precision", "setting", "top weight = 1", "∂L/∂S_row = 0", "loss f32/f64"], lines)]


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def theory_curve(path):
    """d_k, the unscaled saturated share and the keys per row from theory.h5, or None."""
    if not path or not os.path.exists(path):
        return None
    import h5py  # the reader validated the run files; theory.h5 is the sandbox's own output
    with h5py.File(path, "r") as f:
        g = f["theory"]
        return {"d_k": g["d_k"][:], "sat": g["none/saturated_fraction"][:], "keys": int(g.attrs["keys"])}


def sections(study_dir, out, written, theory_path=None):
    data = load(study_dir)
    if not data:
        return []
    parts = ["\n## At the widths real transformers use (`experiments/study/wide_*.ini`)\n",
             "Task teacher (X ~ N(0, 1); targets from a fixed attention layer of the student's shapes, sqrt-scaled unless "
             "said), d_v = 64, every run's settings in its file. " + ", ".join(
                 f"{k}: {len(v)} runs, {sum(r['status'] == 'diverged' for r in v)} diverged" for k, v in data.items())]
    init = data.get("wide_init", [])
    if init:
        fig_init_map(init, theory_curve(theory_path), out, written)
        parts += summary_init(init)
    train = data.get("wide_train", [])
    if train:
        table = best_table(train, ("optimizer", "seq_len", "d_k"))
        for key, cell in table.items():
            cell.all_runs = [r for r in train if (r["optimizer"], r["seq_len"], r["d_k"], r["scale"]) == key]
        fig_loss_vs_step(train, table, out, written)
        fig_lr(train, table, out, written, "wide_lr_sensitivity", "Final held-out loss against the learning rate (teacher, one head)")
        parts += summary_train(train, table)
        # The chain where the argument is sharpest: the largest d_k at the shortest n.
        d, n = max(r["d_k"] for r in train), min(r["seq_len"] for r in train)
        parts += summary_chain(table, d, n)
        fig_chain(train, table, out, written, d, n)
        sens = [[k[0], str(k[1]), str(k[2]), k[3], fmt_interval(c.sens)] for k, c in sorted(table.items(), key=str)]
        parts += ["\nLR sensitivity (Wortsman et al. 2023: mean over the lr grid of the capped loss minus the best)\n",
                  md_table(["optimizer", "n", "d_k", "scale", "LR sensitivity"], sens)]
    sharp = data.get("wide_sharp", [])
    if sharp:
        t = best_table(sharp, ("optimizer", "seq_len", "d_k"))
        lines = []
        for (opt, n, d, scale) in sorted(t, key=str):
            a, b = t.get((opt, n, d, "none")), t.get((opt, n, d, "sqrt"))
            if scale == "none" and a and b:
                lines.append([opt, str(n), str(d), f"{fmt_interval(a.loss())} (lr {fmt(a.lr)})",
                              f"{fmt_interval(b.loss())} (lr {fmt(b.lr)})", fmt_interval(paired_ratio(a, b))])
        T = sorted({r["teacher_temperature"] for r in sharp})
        parts += [f"\n### A teacher with its own temperature (`wide_sharp.ini`, T = {', '.join(fmt(x) for x in T)}: logits "
                  "QKᵀ/(T·√d_k))\n", md_table(["optimizer", "n", "d_k", "none", "sqrt", "none/sqrt"], lines)]
        fig_lr(sharp, t, out, written, "wide_sharp_teacher", f"A sharper teacher (T = {', '.join(fmt(x) for x in T)})")
    heads = data.get("wide_heads", [])
    if heads and train:
        single = [r for r in train if r["d_k"] == 64 and r["seq_len"] == 16]
        parts += summary_pair("\n### One head against 8 at d_model 512, d_k 64, n 16 (`wide_heads.ini`; figure `wide_heads`)\n",
                              heads, single, "8 heads", "1 head")
        by = cells([r for r in init if r["precision"] == "float32" and r["d_model"] == 512], ("heads", "seq_len", "d_k", "scale"))
        sat = [[str(h), str(n), str(d), fmt_interval(mean_interval([r["saturated_fraction@0"] for r in rs], UNIT)),
                fmt_interval(mean_interval([r["saturated_fraction@0"] for r in by.get((1, n, d, "none"), [])], UNIT))]
               for (h, n, d, sc), rs in sorted(by.items()) if h > 1 and sc == "none"]
        parts += ["\nSaturated rows at initialisation, unscaled: h = 512/d_k heads against one head of the same d_k (`wide_init.ini`)\n",
                  md_table(["h", "n", "d_k", "saturated, h heads", "saturated, one head"], sat)]
        fig_heads(single, heads, init, out, written)
    prec = data.get("wide_precision", [])
    if prec and train:
        f32 = [r for r in train if r["d_k"] == 64 and r["seq_len"] == 16 and r["lr"] in {p["lr"] for p in prec}]
        parts += summary_precision(f32, prec, init)
        fig_precision(f32, prec, init, out, written)
    return parts
