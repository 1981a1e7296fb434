#!/usr/bin/env bash
# The whole study pipeline, as experiments/reproduce.sh runs it, on its tiny grid: theory, the four
# sweeps (d_k, heads, learning rate and the µP arm), every figure and the summary. Then numbers of the
# summary are recomputed here straight from the HDF5 files with h5py (not with the study's own code):
# a geometric-mean loss with its t interval, an LR-sensitivity number, and the µP arm's runs.
# Usage: study_reproduce_test.sh SANDBOX_BINARY SOURCE_DIR
set -euo pipefail
sandbox=$1
src=$2
PY=$("$src/experiments/find_python.sh")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$src/experiments/reproduce.sh" --tiny --out "$work/out" --sandbox "$sandbox" --jobs 2 > "$work/log" 2>&1 \
  || { tail -n 30 "$work/log"; fail "reproduce.sh --tiny failed"; }

for name in theory_var_qk theory_saturation; do
  for ext in png svg; do [[ -s "$work/out/figures/$name.$ext" ]] || fail "missing figure $name.$ext"; done
done
for base in final_loss_vs_dk loss_vs_step init_gradients_vs_dk saturation_vs_dk coord_check lr_sensitivity heads; do
  for task in teacher recall; do
    for ext in png svg; do
      [[ -s "$work/out/figures/${base}_$task.$ext" ]] || fail "missing figure ${base}_$task.$ext"
    done
  done
done
for name in wide_init_map wide_loss_vs_step wide_chain wide_lr_sensitivity wide_sharp_teacher wide_heads wide_precision; do
  for ext in png svg; do [[ -s "$work/out/figures/$name.$ext" ]] || fail "missing figure $name.$ext"; done
done
[[ -s "$work/out/summary.md" ]] || fail "no summary.md"

"$PY" - "$work/out" <<'EOF'
import math, re, sys
import h5py
import numpy as np

out = sys.argv[1]
summary = open(f"{out}/summary.md", encoding="utf-8").read()
T975_DF1 = 12.7062047  # Student's t, 0.975 quantile, 1 degree of freedom (2 seeds)


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def runs(path, **want):
    with h5py.File(path, "r") as f:
        for name, g in f["runs"].items():
            a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.attrs.items()}
            if all((abs(a[k] - v) < 1e-12 if isinstance(v, float) else a[k] == v) for k, v in want.items()):
                yield a, {k: g[k][()] for k in ("eval/loss", "eval/step")}


def parse_cell(cell):
    nums = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", cell)]
    if len(nums) != 3:
        fail(f"cell {cell!r} is not 'value [lo, hi]'")
    return nums


def close(got, want, what):
    if not math.isclose(got, want, rel_tol=6e-3):  # the summary prints 3 significant digits
        fail(f"{what}: summary says {got}, recomputed {want}")


# 1. Teacher: the final held-out loss of every (d_k, scale) cell of the summary's first table, the geometric
#    mean over the 2 seeds with the t interval of the logs.
section = summary.split("#### teacher: final held-out loss")[1].split("####")[0]
lines = [l for l in section.splitlines() if l.startswith("|")]
header = [c.strip() for c in lines[0].strip("|").split("|")]
checked = 0
for line in lines[2:]:
    cells = [c.strip() for c in line.strip("|").split("|")]
    for scale, cell in zip(header[1:], cells[1:]):
        finals = [s["eval/loss"][-1] for a, s in runs(f"{out}/study/dk.h5", task="teacher", d_k=int(cells[0]), scale=scale)]
        if len(finals) != 2:
            fail(f"expected 2 seeds of teacher d_k={cells[0]} {scale}, found {len(finals)}")
        logs = np.log(finals)
        half = T975_DF1 * logs.std(ddof=1) / math.sqrt(2)
        want = (math.exp(logs.mean()), math.exp(logs.mean() - half), math.exp(logs.mean() + half))
        for got, w, what in zip(parse_cell(cell), want, ("geometric mean", "lower bound", "upper bound")):
            close(got, w, f"teacher d_k={cells[0]} {scale} final loss {what}")
        checked += 1
if checked != 15:
    fail(f"the teacher loss table has {checked} cells, expected 3 d_k x 5 scales")

# 2. The LR sensitivity of recall, d_k = 4, linear (Wortsman et al.): per seed, the mean over the lr grid of
#    min(final loss, loss at init) minus its minimum; then the mean over seeds.
per_seed = {}
for a, s in runs(f"{out}/study/lr.h5", task="recall", d_k=4, scale="linear"):
    final = s["eval/loss"][-1] if a["status"] == "complete" else math.nan
    per_seed.setdefault(a["seed"], []).append((a["lr"], final, s["eval/loss"][0]))
sens = []
for seed, entries in per_seed.items():
    if len(entries) != 3:
        fail(f"seed {seed}: {len(entries)} learning rates, expected 3")
    init = entries[0][2]
    capped = [init if not np.isfinite(v) else min(v, init) for _, v, _ in entries]
    sens.append(np.mean(capped) - min(capped))
section = summary.split("#### recall: learning-rate sensitivity")[1].split("####")[0]
row = next((l for l in section.splitlines() if l.startswith("| 4 | linear |")), None) or fail("no d_k 4 linear row")
close(parse_cell(row.strip("|").split("|")[4])[0], float(np.mean(sens)), "recall d_k=4 linear LR sensitivity")

# 3. The µP arm: sqrt runs with lr_qk_mult = 1/√d_k at each d_k of the lr grid, and a row in the summary.
for d_k in (4, 64):
    arm = list(runs(f"{out}/study/lr.h5", task="teacher", d_k=d_k, scale="sqrt", lr_qk_mult=1 / math.sqrt(d_k)))
    if len(arm) != 6:
        fail(f"µP arm at d_k = {d_k}: {len(arm)} runs, expected 3 lrs x 2 seeds")
    if f"| {d_k} | sqrt, qk lr/√d_k |" not in summary:
        fail(f"no µP arm row for d_k = {d_k} in the summary")

# 4. At d_model 512 (wide_train.h5): the paired ratio none/sqrt of Adam's best final loss at n = 16, d_k = 64,
#    each scale at the lr whose geometric mean over seeds is lowest (a diverged run counts with its loss at
#    initialisation), then the geometric mean over seeds of the per-seed ratios with the t interval of the logs.
def best(scale):
    by_lr = {}
    for a, s in runs(f"{out}/study/wide_train.h5", optimizer="adam", seq_len=16, d_k=64, scale=scale):
        init = s["eval/loss"][0]
        final = s["eval/loss"][-1] if a["status"] == "complete" else math.nan
        by_lr.setdefault(a["lr"], {})[a["seed"]] = init if not np.isfinite(final) else min(final, init)
    lr = min(by_lr, key=lambda lr: np.mean(np.log(list(by_lr[lr].values()))))
    return by_lr[lr]
none, sqrt = best("none"), best("sqrt")
logs = np.log([none[k] / sqrt[k] for k in sorted(none)])
if len(logs) != 2:
    fail(f"expected 2 seeds in the d_model 512 ratio, found {len(logs)}")
half = T975_DF1 * logs.std(ddof=1) / math.sqrt(2)
row = next((l for l in summary.splitlines() if l.startswith("| adam | 16 | 64 |")), None) or fail("no adam n 16 d_k 64 row")
got = parse_cell(row.strip("|").split("|")[5])
for g, w, what in zip(got, (math.exp(logs.mean()), math.exp(logs.mean() - half), math.exp(logs.mean() + half)),
                      ("ratio", "lower bound", "upper bound")):
    close(g, w, f"d_model 512 adam n 16 d_k 64 none/sqrt {what}")
print("study pipeline (reproduce.sh --tiny): figures, summary and 4 recomputed numbers: ok")
EOF

# ---- The language model's grid (experiments/study/lm_lr.ini, tiny: d_model 16, 2 seeds): its figures, the
# run kept with weights, and two numbers of its summary section recomputed from lm.h5 with h5py: a cell of
# final held-out bits per character (mean and t interval over seeds; a diverged run counts as its bits at
# initialisation, any run as at most those), every cell, and an LR sensitivity (Wortsman et al.).
for name in lm_lr_sensitivity lm_logit_growth lm_attn_entropy; do
  for ext in png svg; do [[ -s "$work/out/figures/$name.$ext" ]] || fail "missing figure $name.$ext"; done
done
"$PY" - "$work/out" <<'EOF'
import math, re, sys
import h5py
import numpy as np

out = sys.argv[1]
summary = open(f"{out}/summary.md", encoding="utf-8").read()
T975_DF1 = 12.7062047


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def capped(**want):
    """{seed: [(lr, capped final bits)]} of the lm runs matching `want`."""
    got = {}
    with h5py.File(f"{out}/study/lm.h5", "r") as f:
        for g in f["runs"].values():
            a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.attrs.items()}
            if all(a[k] == v for k, v in want.items()):
                bits = g["eval/bits_per_char"][()]
                final = bits[-1] if a["status"] == "complete" else math.nan
                value = bits[0] if not np.isfinite(final) else min(final, bits[0])
                got.setdefault(int(a["seed"]), []).append((float(a["lr"]), float(value)))
    return got


def section(heads, d_k):
    title = f"#### language model, {heads} head{'s' if heads > 1 else ''} of d_k {d_k}: final held-out bits per character"
    if title not in summary:
        fail(f"no summary table '{title}'")
    lines = [l for l in summary.split(title)[1].split("####")[0].splitlines() if l.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return header, {l.strip("|").split("|")[0].strip(): [c.strip() for c in l.strip("|").split("|")] for l in lines[2:]}


def numbers(cell):
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", cell.split("(")[0])]


def close(got, want, what):
    if not math.isclose(got, want, rel_tol=6e-3, abs_tol=1e-3):
        fail(f"{what}: summary says {got}, recomputed {want}")


checked = 0
for heads, d_k in ((1, 16), (2, 8)):  # every cell of both tables: lr 0.01, 0.3 and 3 (where every run diverges)
    header, rows = section(heads, d_k)
    for lr in ("0.01", "0.3", "3"):
        for scale in ("none", "sqrt", "qknorm"):
            values = [v for seed in capped(heads=heads, scale=scale, lr=float(lr)).values() for _, v in seed]
            if len(values) != 2:
                fail(f"lm, {heads} heads, {scale}, lr {lr}: {len(values)} runs, expected 2 seeds")
            half = T975_DF1 * np.std(values, ddof=1) / math.sqrt(2)
            want = (np.mean(values), np.mean(values) - half, np.mean(values) + half)
            got = numbers(rows[lr][header.index(scale)])
            if len(got) != 3:
                fail(f"lm cell {rows[lr]} is not 'mean [lo, hi]'")
            for g, w, what in zip(got, want, ("mean", "lower bound", "upper bound")):
                close(g, w, f"lm {heads} heads {scale} lr {lr} final bits/char {what}")
            checked += 1
if checked != 18:
    fail(f"{checked} cells of final bits per character checked, expected 2 widths x 3 lrs x 3 scales")

header, rows = section(2, 8)
sens = []
for seed, entries in capped(heads=2, scale="qknorm").items():
    ell = [v for _, v in sorted(entries)]
    sens.append(np.mean(ell) - min(ell))
if len(sens) != 2:
    fail(f"lm, 2 heads, qknorm: {len(sens)} seeds, expected 2")
close(numbers(rows["LR sensitivity"][header.index("qknorm")])[0], float(np.mean(sens)), "lm 2 heads qknorm LR sensitivity")

with h5py.File(f"{out}/study/lm_sample.h5", "r") as f:
    if "params" not in f["runs/sample"]:
        fail("the language model's run kept for sampling has no final weights")
print("language model grid (reproduce.sh --tiny): 3 figures, 18 cells and an LR sensitivity recomputed, the run with weights: ok")
EOF
