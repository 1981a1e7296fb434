#!/usr/bin/env bash
# Multi-head and encoder–decoder runs from the command line: the two documented example commands work
# and record their attributes and series, and bad heads/context settings exit 2 with one line naming
# the option, creating no file.
#
#   bash tests/experiments/cli/heads_cross_test.sh [SANDBOX_BINARY] [REPO_ROOT]      (ctest: cli.heads_cross)
set -uo pipefail
# shellcheck source=tests/experiments/cli/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hx_init "$@"
cd "$SCRATCH" || exit 1

SMALL=(--seq-len 4 --batch 4 --steps 3 --no-gradcheck)

# bad NAME NEEDLE -- ARGS...: exit 2, exactly one stderr line mentioning NEEDLE, empty stdout, no file made
# or changed (the snapshots are taken while the case's own out.txt/err.txt do not exist).
bad() {
  local name=$1 needle=$2
  shift 3
  local before after rc lines
  before=$(hx_snapshot "$SCRATCH")
  "$SANDBOX" "$@" </dev/null >out.txt 2>err.txt
  rc=$?
  lines=$(awk 'END { print NR }' err.txt)
  local why=""
  ((rc != 2)) && why+="exit $rc (want 2); "
  ((lines != 1)) && why+="$lines stderr lines (want 1); "
  grep -qiF -- "$needle" err.txt || why+="stderr does not mention '$needle'; "
  [[ -s out.txt ]] && why+="stdout not empty; "
  rm -f out.txt err.txt
  after=$(hx_snapshot "$SCRATCH")
  [[ "$before" != "$after" ]] && why+="files created or changed; "
  if [[ -z "$why" ]]; then hx_pass "$name"; else hx_fail "$name" "$why"; fi
}

bad "--heads not dividing d_model with --dk auto" "heads" -- train "${SMALL[@]}" --d-model 10 --heads 4 --dk auto --out a.h5
bad "--dv auto not dividing either" "heads" -- train "${SMALL[@]}" --d-model 10 --heads 3 --dk 2 --dv auto --out a.h5
bad "--dk neither a number nor auto" "dk" -- train "${SMALL[@]}" --dk automatic --out a.h5
bad "--context-len without --model cross" "context-len" -- train "${SMALL[@]}" --context-len 5 --out a.h5
bad "--model cross without --context-len" "context-len" -- train "${SMALL[@]}" --model cross --out a.h5
bad "--context-len 0 with --model cross" "context-len" -- train "${SMALL[@]}" --model cross --context-len 0 --out a.h5
bad "--heads 0" "heads" -- train "${SMALL[@]}" --heads 0 --out a.h5
bad "--heads -2" "heads" -- train "${SMALL[@]}" --heads -2 --out a.h5
bad "unknown model" "model" -- train "${SMALL[@]}" --model decoder --out a.h5
bad "lookup without cross" "lookup" -- train "${SMALL[@]}" --task lookup --out a.h5
bad "recall with cross" "recall" -- train "${SMALL[@]}" --task recall --model cross --context-len 5 --out a.h5

# sandbox grad with heads and an encoder input: a good file works, bad ones are refused.
if [[ -n "$PY" ]]; then
  "$PY" - <<'PYEOF'
import h5py, numpy as np
rng = np.random.default_rng(1)
def make(path, heads=2, wq_cols=6, ctx_batch=2):
    with h5py.File(path, "w") as f:
        f["params/W_Q"] = rng.normal(size=(5, wq_cols)); f["params/W_K"] = rng.normal(size=(5, wq_cols))
        f["params/W_V"] = rng.normal(size=(5, 8)); f["params/W_O"] = rng.normal(size=(8, 3))
        f["inputs/X"] = rng.normal(size=(2, 3, 5)); f["inputs/X_context"] = rng.normal(size=(ctx_batch, 4, 5))
        f["targets/Y"] = rng.normal(size=(2, 3, 3))
        f.attrs["scale"] = "sqrt"; f.attrs["causal"] = np.int64(0); f.attrs["heads"] = np.int64(heads)
make("grad_heads_ok.h5")
make("grad_heads_bad.h5", heads=4)
make("grad_heads_zero.h5", heads=0)
make("grad_context_batch.h5", ctx_batch=3)
PYEOF
  if "$SANDBOX" grad --in grad_heads_ok.h5 --out grad_heads_out.h5 >/dev/null 2>err.txt; then
    hx_pass "grad: 2 heads with an encoder input"
  else
    hx_fail "grad: 2 heads with an encoder input" "$(head -c 300 err.txt)"
  fi
  rm -f err.txt grad_heads_out.h5
  bad "grad: heads not dividing W_Q's columns" "heads" -- grad --in grad_heads_bad.h5 --out g.h5
  bad "grad: heads 0" "heads" -- grad --in grad_heads_zero.h5 --out g.h5
  bad "grad: X_context of another batch" "X_context" -- grad --in grad_context_batch.h5 --out g.h5
fi

# models/README.md's two example commands (shortened), and what they record.
if "$SANDBOX" train --task teacher --d-model 32 --heads 4 --dk auto --dv auto --steps 3 --out multi.h5 >/dev/null 2>err.txt; then
  hx_pass "multi-head example runs"
else
  hx_fail "multi-head example runs" "$(head -c 300 err.txt)"
fi
if "$SANDBOX" train --model cross --task lookup --context-len 8 --seq-len 4 --d-model 32 --dk 4 --steps 3 --out cross.h5 >/dev/null 2>err.txt; then
  hx_pass "cross-attention example runs"
else
  hx_fail "cross-attention example runs" "$(head -c 300 err.txt)"
fi
# Three heads with W^O, on non-square per-head sizes, for the layout checker.
"$SANDBOX" train --task teacher --d-model 12 --heads 3 --dk 5 --dv 7 --d-out 4 --steps 4 --run wo --out multi.h5 >/dev/null 2>err.txt \
  || hx_fail "3 heads with W^O runs" "$(head -c 300 err.txt)"
rm -f err.txt
if [[ -n "$PY" ]]; then
  for spec in "multi.h5 teacher-dk8-sqrt-seed0 3" "multi.h5 wo 4" "cross.h5 lookup-dk4-sqrt-seed0 3"; do
    read -r file run logged <<<"$spec"
    if "$PY" "$ROOT/tests/experiments/cli/check_run_layout.py" "$file" "$run" --status complete --logged "$logged" >check.txt 2>&1; then
      hx_pass "documented layout: $file /runs/$run"
    else
      hx_fail "documented layout: $file /runs/$run" "$(tail -c 600 check.txt | tr '\n' ' ')"
    fi
  done
  if "$PY" - multi.h5 cross.h5 <<'PYEOF' >check.txt 2>&1; then
import sys, h5py
multi = h5py.File(sys.argv[1], "r")["runs"]["teacher-dk8-sqrt-seed0"]
cross = h5py.File(sys.argv[2], "r")["runs"]["lookup-dk4-sqrt-seed0"]
assert multi.attrs["heads"] == 4 and multi.attrs["d_k"] == 8 and multi.attrs["d_v"] == 8, dict(multi.attrs)
assert multi.attrs["model"] == "self_attention" and multi.attrs["context_len"] == 0
assert multi["params_init"]["W_Q"].shape == (32, 32) and multi["params_init"]["W_V"].shape == (32, 32)
for h in range(4):
    assert len(multi[f"head{h}/saturated_fraction"]) == 3 and len(multi[f"head{h}/attn_entropy"]) == 3
assert "head4" not in multi
for key in ("logit_max_abs", "q_grad/median", "q_grad/mean"):
    assert len(multi[key]) == 3, key
assert cross.attrs["model"] == "cross" and cross.attrs["context_len"] == 8 and cross.attrs["heads"] == 1
assert abs(cross.attrs["chance_accuracy"] - 0.125) < 1e-15 and cross.attrs["lookup_values"] == 8
assert "head0" not in cross  # one head: no per-head series
assert len(cross["accuracy"]) == 3
PYEOF
    hx_pass "attributes and series in the run files"
  else
    hx_fail "attributes and series in the run files" "$(tail -c 400 check.txt | tr '\n' ' ')"
  fi
fi
hx_summary
