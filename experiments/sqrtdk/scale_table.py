"""Scaled (sqrt) vs unscaled (none) attention, one row per task and d_k.

    PY=$(experiments/find_python.sh)
    PYTHONPATH=experiments $PY -m sqrtdk scale-table --sweep results/sqrt_dk.h5 [more.h5 ...] [--task teacher] [--markdown]
        [--where KEY=VALUE ...] [--group-by KEY ...]

Columns, each the mean over seeds of the complete runs, for scale sqrt (QK^T/sqrt(d_k)) and none (QK^T):
  final loss            last logged loss
  logit grad @init      median over query rows of ||dL/dS_i|| at step 0 (logit_grad/median)
  saturated @init/@end  share of rows whose largest attention weight > 0.99, at step 0 / last step
  ‖∇W_Q‖ @init          Frobenius norm of the gradient w.r.t. W^Q at step 0
Numbers have 3 significant digits (scientific below 0.01). After the table, one note per task:
"unscaled/scaled final-loss ratio at the largest d_k". Plain aligned text by default; --markdown
prints a Markdown table whose first line is the header row. --where and --group-by as in `sqrtdk figures`
(grouped rows are labelled "teacher lr=0.01"); runs that would be averaged into one cell but differ in a
setting that is neither filtered nor grouped are refused (one line naming it, exit 2). The last note lists
the settings every run shares ("fixed: ..."). Bad input: one line on stderr, exit 2.
"""

import argparse

from . import sweep as sweeps
from .stats import fmt3
from .sweep import Sweep

PAIR = ("sqrt", "none")      # scaled, unscaled

# (group header, markdown name, per-run reducer)
METRICS = [
    ("final loss", "final loss", lambda r: r.at_end("loss")),
    ("logit grad @init", "median logit grad @init", lambda r: r.at_init("logit_grad/median")),
    ("saturated @init", "saturated frac. @init", lambda r: r.at_init("saturated_fraction")),
    ("saturated @end", "saturated frac. @end", lambda r: r.at_end("saturated_fraction")),
    ("‖∇W_Q‖ @init", "‖∇W_Q‖ @init", lambda r: r.at_init("grad_norm/W_Q")),
]


def mean_or_none(runs, reduce):
    agg = sweeps.aggregate_scalar(runs, reduce)
    return None if agg is None else float(agg.mean)


def build_rows(sweep, tasks):
    """Rows of (task, d_k, seeds text, {(metric index, scale): value}) and the per-task notes."""
    rows, notes = [], []
    for task, label, runs in ((t, label, runs) for t in tasks for label, runs in sweep.groups(t)):
        groups = sweeps.group_by_config(runs)
        task = f"{task} {label}" if label else task
        dks = sorted({r.d_k for r in runs if r.scale in PAIR})
        if not dks:
            notes.append(f"{task}: no complete runs with scale sqrt or none")
            continue
        for d_k in dks:
            values = {}
            for i, (_, _, reduce) in enumerate(METRICS):
                for scale in PAIR:
                    values[(i, scale)] = mean_or_none(groups.get((scale, d_k), []), reduce)
            seeds = "/".join(str(len(groups.get((scale, d_k), []))) for scale in PAIR)
            rows.append((task, d_k, seeds, values))
        both = [d for d in dks if groups.get(("sqrt", d)) and groups.get(("none", d))]
        if both:
            d_k = both[-1]
            scaled = mean_or_none(groups[("sqrt", d_k)], METRICS[0][2])
            unscaled = mean_or_none(groups[("none", d_k)], METRICS[0][2])
            if scaled is None or unscaled is None:
                ratio = None
            elif scaled == 0:
                ratio = float("inf") if unscaled > 0 else float("nan")
            else:
                ratio = unscaled / scaled
            notes.append(f"{task}: unscaled/scaled final-loss ratio at the largest d_k ({d_k}): {fmt3(ratio)}")
        else:
            notes.append(f"{task}: no d_k with both sqrt and none runs, so no final-loss ratio")
    return rows, notes


def cells(row):
    task, d_k, seeds, values = row
    out = [task, str(d_k), seeds]
    for i in range(len(METRICS)):
        out += [fmt3(values[(i, scale)]) for scale in PAIR]
    return out


def render_plain(rows):
    lead = ["task", "d_k", "seeds s/n"]
    sub = lead + [scale for _ in METRICS for scale in PAIR]
    body = [cells(r) for r in rows]
    widths = [max(len(sub[c]), *(len(b[c]) for b in body)) for c in range(len(sub))]
    sep = "  "
    # Widen a metric's two columns if its group header does not fit over them.
    for i, (group, _, _) in enumerate(METRICS):
        a, b = len(lead) + 2 * i, len(lead) + 2 * i + 1
        short = len(group) - (widths[a] + len(sep) + widths[b])
        if short > 0:
            widths[a] += short // 2
            widths[b] += short - short // 2
    group_line = sep.join(" " * w for w in widths[:len(lead)])
    for i, (group, _, _) in enumerate(METRICS):
        a = len(lead) + 2 * i
        span = widths[a] + len(sep) + widths[a + 1]
        group_line += sep + group.center(span)
    left = {0}                              # task column left-aligned, numbers right-aligned

    def line(values):
        return sep.join(v.ljust(w) if c in left else v.rjust(w)
                        for c, (v, w) in enumerate(zip(values, widths)))
    out = [group_line.rstrip(), line(sub), sep.join("-" * w for w in widths)]
    out += [line(b) for b in body]
    return out


def render_markdown(rows):
    header = ["task", "d_k", "seeds (sqrt/none)"]
    header += [f"{name} ({scale})" for _, name, _ in METRICS for scale in PAIR]
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join([":---", "---:", "---:"] + ["---:"] * (len(header) - 3)) + "|"]
    out += ["| " + " | ".join(cells(r)) + " |" for r in rows]
    return out


def parse_args(argv):
    p = argparse.ArgumentParser(prog="sqrtdk scale-table", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sweep", required=True, nargs="+", action="extend", metavar="FILE",
                   help="run files with /runs (e.g. results/sqrt_dk.h5), one or more")
    p.add_argument("--task", help="only this task (default: every task in the file)")
    p.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                   help="only runs whose attribute KEY is VALUE (KEY=V1,V2: any of them); repeatable")
    p.add_argument("--group-by", action="append", default=[], metavar="KEY",
                   help="separate rows per value of attribute KEY (e.g. lr); repeatable")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table instead of plain text")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    group_by = [k for text in args.group_by for k in text.split(",") if k]
    sweep = Sweep(args.sweep, where=args.where, group_by=group_by)
    if args.task:
        sweep.check_task(args.task)
    sweeps.check_curves([r for t in ([args.task] if args.task else sweep.all_tasks()) for r in sweep.for_task(t)],
                        group_by)  # refuses to average runs of different settings
    tasks = [args.task] if args.task else sweep.all_tasks()
    rows, notes = build_rows(sweep, tasks)
    skipped = sweep.skipped_note(args.task)
    used = sum(len(sweep.for_task(t)) for t in tasks)
    notes.append(f"runs: {used} complete used; " + (skipped if skipped else "none skipped")
                 + "; every cell is the mean over seeds; seeds s/n = number of sqrt/none seeds")
    notes.append(sweeps.fixed_text([r for t in tasks for r in sweep.for_task(t)], width=10**6))
    if args.markdown:
        lines = render_markdown(rows) if rows else []
        lines += [""] + [f"- {n}" for n in notes]
    else:
        lines = render_plain(rows) if rows else []
        lines += [""] + [f"note: {n}" for n in notes]
    print("\n".join(lines).lstrip("\n"))
    return 0 if rows else 1

