"""The language model's learning-rate grid (experiments/study/lm_lr.ini, Wortsman et al. 2023, arXiv
2309.14322): its figures and its section of the summary, from the sweep's file (results/study/lm.h5).

    PYTHONPATH=experiments $PY -m sqrtdk lm --file results/study/lm.h5 --out results

draws OUT/figures/<name>.png|svg and prints the summary's section; `sqrtdk study` writes the same section
into summary.md when its study directory holds lm.h5 (`summary_and_figures`). Figures:
  lm_lr_sensitivity     final held-out bits per character against the learning rate, a panel per head width,
                        a line per scale: the mean over seeds with its 95% t interval; a diverged run counts
                        with its bits per character at initialisation (it learned nothing, as in Wortsman et
                        al.'s LR sensitivity) and is also drawn as an x
  lm_logit_growth       the largest attention logit (the largest |S| over the blocks, block<b>/logit_max_abs)
                        against step at a high learning rate, a line per scale: geometric mean over seeds
  lm_attn_entropy       the attention entropy of the block with the lowest entropy (block<b>/attn_entropy,
                        nats) against step at the same learning rate: arithmetic mean over seeds
The high learning rate is the largest of the grid at which every run of every scale finished (none
diverged), so that every line covers every step. Every figure names its model size, optimizer, precision and
seeds. Bad input: one line on stderr, exit 2.
"""

import argparse
import math
import os
import re
from collections import defaultdict

import numpy as np
import matplotlib.pyplot as plt

from . import reader, stats, style
from .reader import InputError
from .stats import fmt, fmt_interval, geomean_interval, mean_interval

BLOCK = re.compile(r"^block(\d+)/(logit_max_abs|attn_entropy)$")


# ---- One record per run --------------------------------------------------------------------------------

def run_record(run):
    """The settings and the numbers the figures and the summary use, from one run of the grid."""
    s = run.series
    blocks = defaultdict(dict)
    for key, values in s.items():
        m = BLOCK.match(key)
        if m:
            blocks[m.group(2)][int(m.group(1))] = np.asarray(values, dtype=np.float64)
    n = min((len(v) for d in blocks.values() for v in d.values()), default=0)
    stack = lambda name: np.vstack([blocks[name][b][:n] for b in sorted(blocks[name])]) if blocks[name] else None  # noqa: E731
    logit, entropy = stack("logit_max_abs"), stack("attn_entropy")
    bits = np.asarray(s.get("eval/bits_per_char", []), dtype=np.float64)
    diverged = reader.diverged_at(run) is not None or run.status == "diverged"
    init_bits = float(bits[0]) if len(bits) else math.nan
    final = float(bits[-1]) if len(bits) and not diverged and run.status == "complete" else math.nan
    return {
        "name": run.name, "scale": run["scale"], "heads": int(run["heads"]), "d_k": int(run["d_k"]),
        "lr": float(run["lr"]), "seed": int(run["seed"]), "status": run.status, "diverged": diverged,
        "init_bits": init_bits, "final_bits": final,
        # Wortsman et al.'s convention: a run that diverged or ended worse than at initialisation counts as
        # its loss at initialisation.
        "capped_bits": init_bits if not np.isfinite(final) else min(final, init_bits),
        "step": np.asarray(s.get("step", []), dtype=np.float64)[:n],
        "logit_max": logit.max(axis=0) if logit is not None else np.zeros(0),
        "entropy_min": entropy.min(axis=0) if entropy is not None else np.zeros(0),
        "unigram": float(run.attrs.get("unigram_entropy_bits", math.nan)),
        "wall_seconds": float(run.attrs.get("wall_seconds", math.nan)),
        "settings": {k: run.attrs.get(k) for k in ("d_model", "layers", "seq_len", "batch", "steps", "optimizer",
                                                   "warmup_steps", "schedule", "weight_decay", "precision")},
    }


def load_records(path):
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    records = [run_record(r) for r in reader.load_runs([path]) if r.attrs.get("model") == "lm"]
    if not records:
        raise InputError(f"{path}: no runs of --model lm")
    return records


def by(records, *keys):
    out = defaultdict(list)
    for r in records:
        out[tuple(r[k] for k in keys)].append(r)
    return out


def values(records, key):
    return sorted({r[key] for r in records}, key=style.scale_sort_key if key == "scale" else None)


def describe(records):
    """One line for every figure: the model, the optimizer, the precision and the seeds."""
    s = records[0]["settings"]
    seeds = values(records, "seed")
    per_cell = sorted({len(v) for v in by(records, "scale", "heads", "lr").values()})
    return (f"d_model {s['d_model']}, {s['layers']} layers, n (context) {s['seq_len']}, batch {s['batch']}, "
            f"{s['steps']} steps of {s['optimizer']} ({s['warmup_steps']} warm-up, {s['schedule']}, weight decay "
            f"{fmt(float(s['weight_decay']))}), {s['precision']}; seeds {', '.join(map(str, seeds))} "
            f"({'–'.join(map(str, per_cell[::max(1, len(per_cell) - 1)]))} per point)")


def heads_label(records, heads):
    d_k = values([r for r in records if r["heads"] == heads], "d_k")[0]
    return f"{heads} head{'s' if heads > 1 else ''} of d_k {d_k}"


def high_lr(records):
    """The largest learning rate at which no run of any scale or width diverged (None: there is none)."""
    ok = [lr for lr, rs in by(records, "lr").items() if all(r["status"] == "complete" and not r["diverged"] for r in rs)]
    return max(ok)[0] if ok else None


# ---- Figures -------------------------------------------------------------------------------------------

def fig_lr(records, out):
    widths = values(records, "heads")
    fig, axes = plt.subplots(1, len(widths), figsize=(5.2 * len(widths), 4.0), squeeze=False, sharey=True)
    for ax, heads in zip(axes[0], widths):
        rs = [r for r in records if r["heads"] == heads]
        for scale in values(rs, "scale"):
            cell = by([r for r in rs if r["scale"] == scale], "lr")
            lrs = sorted(k[0] for k in cell)
            ivs = [mean_interval([r["capped_bits"] for r in cell[(lr,)]]) for lr in lrs]
            c = style.color(scale)
            ax.plot(lrs, [iv.value for iv in ivs], linestyle=style.line_style(scale), color=c, marker="o", ms=3,
                    label=style.scale_label(scale))
            lo, hi = np.array([iv.lo for iv in ivs]), np.array([iv.hi for iv in ivs])
            ok = np.isfinite(lo) & np.isfinite(hi)
            if ok.any():
                style.band(ax, np.asarray(lrs)[ok], lo[ok], hi[ok], c)
            bad = [r for r in cell_runs(cell) if r["diverged"]]
            if bad:
                ax.plot([r["lr"] for r in bad], [r["capped_bits"] for r in bad], "x", color=c, ms=7, mew=1.5,
                        label=f"{scale}: diverged run")
        unigram = rs[0]["unigram"]
        if np.isfinite(unigram):
            ax.axhline(unigram, color="0.5", lw=0.8, ls=":")
            ax.text(0.02, unigram, " unigram entropy", transform=ax.get_yaxis_transform(), va="bottom", fontsize=7,
                    color="0.4")
        ax.set_xscale("log")
        ax.set_xlabel("peak learning rate")
        ax.set_title(heads_label(records, heads), fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("final held-out bits per character")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle("Language model: learning-rate sensitivity (Wortsman et al. 2023, Fig. 1)\n" + describe(records)
                 + "\nmean over seeds, bands 95% t intervals; a diverged run counts as its bits/char at initialisation",
                 fontsize=8, y=1.06)
    return fig


def cell_runs(cell):
    return [r for rs in cell.values() for r in rs]


def fig_series(records, lr, key, ylabel, title, geometric):
    widths = values(records, "heads")
    fig, axes = plt.subplots(1, len(widths), figsize=(5.2 * len(widths), 3.8), squeeze=False, sharey=True)
    for ax, heads in zip(axes[0], widths):
        rs = [r for r in records if r["heads"] == heads and math.isclose(r["lr"], lr)]
        for scale in values(rs, "scale"):
            seeds = [r for r in rs if r["scale"] == scale and len(r[key])]
            if not seeds:
                continue
            n = min(len(r[key]) for r in seeds)
            steps = seeds[0]["step"][:n]
            stat = geomean_interval if geometric else mean_interval
            ivs = [stat([r[key][i] for r in seeds]) for i in range(n)]
            c = style.color(scale)
            ax.plot(steps, [iv.value for iv in ivs], linestyle=style.line_style(scale), color=c,
                    label=f"{style.scale_label(scale)} ({len(seeds)} seeds)")
            lo, hi = np.array([iv.lo for iv in ivs]), np.array([iv.hi for iv in ivs])
            ok = np.isfinite(lo) & np.isfinite(hi)
            if ok.any():
                style.band(ax, steps[ok], lo[ok], hi[ok], c)
        if geometric:
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(heads_label(records, heads), fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(f"Language model at learning rate {fmt(lr)}: {title}\n" + describe(records)
                 + ("\ngeometric" if geometric else "\narithmetic") + " mean over seeds, bands 95% t intervals",
                 fontsize=8, y=1.06)
    return fig


def draw(records, out_dir):
    """Every figure of the grid into out_dir; the names written."""
    os.makedirs(out_dir, exist_ok=True)
    written = []
    style.save(fig_lr(records, out_dir), out_dir, "lm_lr_sensitivity")
    written.append("lm_lr_sensitivity")
    lr = high_lr(records)
    if lr is not None:
        style.save(fig_series(records, lr, "logit_max", "largest attention logit |S| (over blocks)",
                              "the largest attention logit against step", True), out_dir, "lm_logit_growth")
        style.save(fig_series(records, lr, "entropy_min", "attention entropy, lowest block (nats)",
                              "attention entropy against step", False), out_dir, "lm_attn_entropy")
        written += ["lm_logit_growth", "lm_attn_entropy"]
    return written


# ---- The summary's section -----------------------------------------------------------------------------

def sensitivity(records):
    """Per seed, Wortsman et al.'s LR sensitivity of the final held-out bits per character over the grid."""
    out = []
    for (seed,), rs in sorted(by(records, "seed").items()):
        rs = sorted(rs, key=lambda r: r["lr"])
        out.append(stats.lr_sensitivity([r["final_bits"] for r in rs], rs[0]["init_bits"]))
    return mean_interval(out, bounds=(0.0, math.inf))


def summary_section(records):
    """The summary's lines (markdown) for the language model's grid."""
    lr = high_lr(records)
    walls = [r["wall_seconds"] for r in records if np.isfinite(r["wall_seconds"])]
    lines = [f"\n## Language model: learning-rate sensitivity (`experiments/study/lm_lr.ini`): {len(records)} runs, "
             f"{sum(r['diverged'] for r in records)} diverged",
             "", describe(records) + f"; unigram entropy of the corpus {fmt(records[0]['unigram'])} bits per character"
             + (f"; {fmt(float(np.median(walls)))} s median wall time per run (the sweep's own measure, under whatever "
                "load the machine had)" if walls else "") + ".",
             "", "Final held-out bits per character: mean [95% interval] over seeds; a diverged run counts as its bits "
             "per character at initialisation (the count of diverged seeds in parentheses). LR sensitivity (Wortsman "
             "et al. 2023): per seed, the mean over the learning rates of min(final, initial) minus its minimum, then "
             "the mean over seeds; 0 means every learning rate is as good as the best."]
    for heads in values(records, "heads"):
        rs = [r for r in records if r["heads"] == heads]
        scales = values(rs, "scale")
        lines += ["", f"#### language model, {heads_label(records, heads)}: final held-out bits per character", "",
                  "| lr | " + " | ".join(scales) + " |", "|---|" + "---|" * len(scales)]
        for lr_value in values(rs, "lr"):
            row = [fmt(lr_value)]
            for scale in scales:
                cell = [r for r in rs if r["scale"] == scale and r["lr"] == lr_value]
                d = sum(r["diverged"] for r in cell)
                row.append(fmt_interval(mean_interval([r["capped_bits"] for r in cell])) + (f" ({d} diverged)" if d else ""))
            lines.append("| " + " | ".join(row) + " |")
        row = ["LR sensitivity"] + [fmt_interval(sensitivity([r for r in rs if r["scale"] == s])) for s in scales]
        lines.append("| " + " | ".join(row) + " |")
        if lr is not None:
            row = [f"largest attention logit over training, lr {fmt(lr)}"]
            row += [fmt_interval(geomean_interval([np.nanmax(r["logit_max"]) for r in rs if r["scale"] == s
                                                   and r["lr"] == lr and len(r["logit_max"])])) for s in scales]
            lines.append("| " + " | ".join(row) + " |")
            row = [f"attention entropy of the lowest block at the end (nats), lr {fmt(lr)}"]
            row += [fmt_interval(mean_interval([r["entropy_min"][-1] for r in rs if r["scale"] == s and r["lr"] == lr
                                                and len(r["entropy_min"])], bounds=(0.0, math.inf))) for s in scales]
            lines.append("| " + " | ".join(row) + " |")
    return lines


def summary_and_figures(path, out, written=None):
    """What `sqrtdk study` calls: the figures into OUT/figures (their names appended to `written`) and the
    summary's lines, from the grid's file."""
    records = load_records(path)
    names = draw(records, os.path.join(out, "figures"))
    if written is not None:
        written += names
    return summary_section(records)


def main(argv=None):
    p = argparse.ArgumentParser(prog="sqrtdk lm", description=__doc__.split("\n")[0])
    p.add_argument("--file", required=True, help="the grid's run file (results/study/lm.h5)")
    p.add_argument("--out", required=True, help="writes OUT/figures/lm_*.png|svg; the summary's section goes to stdout")
    args = p.parse_args(argv)
    print("\n".join(summary_and_figures(args.file, args.out)))
    return 0
