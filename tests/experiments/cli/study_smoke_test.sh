#!/usr/bin/env bash
# The study's pipeline on a small scale, with the real binary and the real scripts: a tiny sweep and a
# short theory run, then every figure and the summary table drawn from those files.
# Usage: study_smoke_test.sh SANDBOX_BINARY SOURCE_DIR
set -euo pipefail
sandbox=$1
src=$2
PY=$("$src/experiments/find_python.sh")
export PYTHONPATH="$src/experiments${PYTHONPATH:+:$PYTHONPATH}"  # the sqrtdk package, from the checkout
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cat > "$work/tiny.ini" <<'INI'
[grid]
task = teacher recall
dk = 2 16
scale = none sqrt
seed = 0 1
[run]
d-model = 8
seq-len = 6
batch = 4
steps = 12
INI
"$sandbox" sweep --config "$work/tiny.ini" --out "$work/sweep.h5" --quiet > "$work/sweep.out"
grep -q "16 complete" "$work/sweep.out" || fail "sweep did not complete 16 runs: $(cat "$work/sweep.out")"
"$sandbox" theory --out "$work/theory.h5" --max-dk 64 --samples 4000 > /dev/null

"$PY" -m sqrtdk figures --sweep "$work/sweep.h5" --theory "$work/theory.h5" --out "$work/fig" > "$work/plot.out"
for name in loss_vs_step logit_grad_vs_dk saturation_vs_dk grad_norms_vs_dk entropy_vs_dk; do
  for task in teacher recall; do
    for ext in png svg; do
      [[ -s "$work/fig/${name}_${task}.$ext" ]] || fail "missing figure ${name}_${task}.$ext"
    done
  done
done
for name in theory_var_qk theory_saturation; do
  [[ -s "$work/fig/$name.png" && -s "$work/fig/$name.svg" ]] || fail "missing figure $name"
done
"$PY" -m sqrtdk scale-table --sweep "$work/sweep.h5" > "$work/table.txt"
for dk in 2 16; do
  grep -Eq "^teacher +$dk " "$work/table.txt" || fail "summary table has no teacher row for d_k = $dk"
done
echo "study pipeline: 16 runs, theory, 12 figures and the table: ok"
