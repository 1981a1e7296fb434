#!/usr/bin/env bash
# `sandbox train --threads N` splits a run's products and passes over N threads and must not change a bit:
# the same runs with 1, 2 and 3 threads are compared through checksums of every series and attribute
# (tests/data/logged_numbers/checksums.py; wall_seconds aside). SANDBOX_TEST_SPLIT_ALL=1 makes every op
# split however little work it has (min_work 0), and the shapes give every split at least two ranges
# (d_model 96: the weight gradients' 96 rows make two ranges of 48), so that projections, weight gradients,
# score blocks, softmax, cross-entropy, metrics, the copy of the batch and the clearing of adjoints all split.
# --threads is not part of the run's identity: the stored configuration is the same, so a run trained
# with 2 threads is "the same configuration" as one trained with 1. A bad --threads is refused with one
# line, exit 2, and no file.
# Usage: train_threads_test.sh SANDBOX_BINARY SOURCE_DIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hx_init "$1" "$2"
if [[ -z "$PY" ]]; then
  hx_fail setup "no Python with h5py (experiments/find_python.sh)"
  hx_summary
  exit 1
fi
common=(--batch 8 --seq-len 128 --d-model 96 --steps 12 --log-every 1 --eval-every 6)
export SANDBOX_TEST_SPLIT_ALL=1
runs=(
  "teacher --heads 2 --dk 16 --causal --scale learned --d-out 24"
  "recall --scale none"
  "lookup --model cross --context-len 96 --heads 4 --scale qknorm"
)
for threads in 1 2 3; do
  mkdir -p "$SCRATCH/t$threads"
  i=0
  for r in "${runs[@]}"; do
    # shellcheck disable=SC2086
    if ! "$SANDBOX" train --task $r "${common[@]}" --threads "$threads" --name "run$i" \
        --out "$SCRATCH/t$threads/runs.h5" > "$SCRATCH/t$threads/log$i" 2>&1; then
      hx_fail "train_${threads}_threads_run$i" "$(tail -1 "$SCRATCH/t$threads/log$i")"
    fi
    i=$((i + 1))
  done
  "$PY" "$ROOT/tests/data/logged_numbers/checksums.py" make "$SCRATCH/t$threads/runs.h5" > "$SCRATCH/t$threads.sums" 2>&1
done
if [[ $(grep -c run "$SCRATCH/t1.sums") -ne 3 ]]; then
  hx_fail three_runs_logged "$(head -3 "$SCRATCH/t1.sums" | tr '\n' ';')"
else
  hx_pass three_runs_logged
fi
for threads in 2 3; do
  if diff -q "$SCRATCH/t1.sums" "$SCRATCH/t$threads.sums" > /dev/null; then
    hx_pass "same_bits_with_${threads}_threads"
  else
    hx_fail "same_bits_with_${threads}_threads" "$(diff "$SCRATCH/t1.sums" "$SCRATCH/t$threads.sums" | grep '^>' | head -3 | tr '\n' ';')"
  fi
done

# Not part of the identity: redoing run0 with 2 threads into the 1-thread file is "the same configuration".
out=$("$SANDBOX" train --task ${runs[0]} "${common[@]}" --threads 2 --name run0 --out "$SCRATCH/t1/runs.h5" 2>&1)
rc=$?
if [[ $rc -eq 2 && "$out" == *"same configuration"* ]]; then
  hx_pass threads_not_in_identity
else
  hx_fail threads_not_in_identity "exit $rc: $out"
fi

for bad in 0 -1 257 two; do
  out=$("$SANDBOX" train --task recall --steps 2 --threads "$bad" --out "$SCRATCH/bad.h5" 2>&1)
  rc=$?
  if [[ $rc -eq 2 && $(printf '%s\n' "$out" | wc -l) -eq 1 && "$out" == *threads* && ! -e "$SCRATCH/bad.h5" ]]; then
    hx_pass "refuses_threads_$bad"
  else
    hx_fail "refuses_threads_$bad" "exit $rc: $out"
  fi
done
hx_summary
