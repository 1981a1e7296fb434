#!/usr/bin/env bash
# `sweep --dry-run`'s estimated time (experiments/src/bench/sweep_estimate.hpp): proportional to the steps,
# close to what the sweep then takes, and given for --model lm runs too.
#
#   bash tests/experiments/cli/sweep_estimate_test.sh [SANDBOX_BINARY] [REPO_ROOT]      (ctest: sweep.dry_run_estimate)
#
#   * in one dry run (the same probes for both), a run of twice the steps is estimated at about twice
#     (1.7 to 2.1 times: the fixed part of a run is small at these steps);
#   * a small real sweep (4 runs, one job) then takes CPU time within a factor of 2 of the estimated CPU
#     seconds, and wall time within a factor of 3 of the estimated wall time (the load may change between
#     the two);
#   * a grid of --model lm runs gets an estimate for every run, and twice the steps about twice the time
#     (1.5 to 2.1 times: the corpus and the evaluation set are a larger fixed part for the small model).
set -uo pipefail
# shellcheck source=tests/experiments/cli/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hx_init "$@"
cd "$SCRATCH" || exit 1

# The estimate of each run ("~1.23s" ending its line) and of the whole sweep, from a dry run's output.
run_estimates() { grep '^  ' "$1" | sed -E 's/.*~([0-9.e+]+)s$/\1/'; }
total_wall() { sed -nE '2s/^estimated time: [^(]*\(([0-9.e+]+) s\).*/\1/p' "$1"; }
total_cpu() { sed -nE '2s/.*, ([0-9.e+]+) CPU-s in all.*/\1/p' "$1"; }
ratio_between() { awk -v a="$1" -v b="$2" -v lo="$3" -v hi="$4" 'BEGIN { r = a / b; printf "%.2f", r; exit !(b > 0 && r >= lo && r <= hi) }'; }

cat >small.ini <<'EOF'
[grid]
scale = none sqrt
seed = 0 1
[run]
task = recall
d-model = 64
heads = 4
dk = auto
dv = auto
seq-len = 16
batch = 16
steps = 300
lr = 0.003
save-weights = none
EOF

# ---- twice the steps, about twice the time
grep -v '^steps' small.ini >double.ini
if "$SANDBOX" sweep --config double.ini --grid.steps "1000 2000" --grid.seed 0 --run.no-gradcheck --run.eval-every 0 \
  --dry-run --jobs 1 >double.out 2>double.err; then
  mapfile -t est < <(run_estimates double.out)
  # grid order: scale none (steps 1000, 2000), scale sqrt (steps 1000, 2000)
  if [[ ${#est[@]} -eq 4 ]] && r1=$(ratio_between "${est[1]}" "${est[0]}" 1.7 2.1) && r2=$(ratio_between "${est[3]}" "${est[2]}" 1.7 2.1); then
    hx_pass "twice the steps, about twice the estimate (${est[*]} s: x$r1, x$r2)"
  else
    hx_fail "twice the steps" "estimates '${est[*]}' (x${r1:-?}, x${r2:-?}), output: $(head -3 double.out | tr '\n' '|') $(head -c 300 double.err)"
  fi
else
  hx_fail "twice the steps" "dry run failed: $(head -c 300 double.err)"
fi

# ---- the estimate against the sweep it estimates
if "$SANDBOX" sweep --config small.ini --dry-run --jobs 1 >small.out 2>small.err; then
  wall=$(total_wall small.out) cpu=$(total_cpu small.out)
  /usr/bin/time -f '%e %U %S' -o took.txt "$SANDBOX" sweep --config small.ini --out small.h5 --jobs 1 --quiet >run.out 2>&1
  rc=$?
  read -r took_wall took_user took_sys <took.txt
  took_cpu=$(awk -v u="$took_user" -v s="$took_sys" 'BEGIN { print u + s }')
  if [[ $rc -eq 0 ]] && rc_cpu=$(ratio_between "$took_cpu" "$cpu" 0.5 2) && rc_wall=$(ratio_between "$took_wall" "$wall" 0.333 3); then
    hx_pass "a real sweep takes about the estimate: CPU ${took_cpu} s against ${cpu} (x$rc_cpu), wall ${took_wall} s against ${wall} (x$rc_wall)"
  else
    hx_fail "estimate against the sweep" "exit $rc; CPU ${took_cpu:-?} s against ${cpu:-?} (x${rc_cpu:-?}), wall ${took_wall:-?} s against ${wall:-?} (x${rc_wall:-?}); $(sed -n 2p small.out | cut -c1-200) $(tail -1 run.out)"
  fi
else
  hx_fail "estimate against the sweep" "dry run failed: $(head -c 300 small.err)"
fi

# ---- --model lm runs are estimated too
cat >lm.ini <<'EOF'
[grid]
steps = 400 800
[run]
gradcheck = false
eval-every = 0
model = lm
d-model = 16
heads = 2
dk = auto
dv = auto
layers = 1
seq-len = 16
batch = 4
precision = float32
EOF
if "$SANDBOX" sweep --config lm.ini --dry-run --jobs 1 >lm.out 2>lm.err; then
  mapfile -t est < <(run_estimates lm.out)
  if [[ ${#est[@]} -eq 2 ]] && grep -q 'model=lm' lm.out && r1=$(ratio_between "${est[1]}" "${est[0]}" 1.5 2.1); then
    hx_pass "lm runs estimated (${est[*]} s; twice the steps x$r1)"
  else
    hx_fail "lm runs estimated" "estimates '${est[*]}' (x${r1:-?}): $(head -4 lm.out | tr '\n' '|')"
  fi
else
  hx_fail "lm runs estimated" "dry run failed: $(head -c 300 lm.err)"
fi

hx_summary
