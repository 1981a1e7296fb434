#!/usr/bin/env bash
# Test of `python3 -m sqrtdk figures` and `scale-table` (experiments/sqrtdk) on a synthetic fixture.
#   bash tests/experiments/sqrtdk/test_plots.sh   (from anywhere; exit 0 = pass, non-zero = fail, each failure printed)
# Keeps its temporary directory when KEEP_TMP=1 (path printed), for looking at the figures.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
HERE="$ROOT/tests/experiments/sqrtdk"
# The package is imported from the checkout, as the scripts run it.
export PYTHONPATH="$ROOT/experiments${PYTHONPATH:+:$PYTHONPATH}"
FAILS=0
CHECKS=0

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
check() { CHECKS=$((CHECKS + 1)); }   # counts the assertions made

PY=$("$ROOT/experiments/find_python.sh") || { echo "FAIL: no Python with h5py + matplotlib (see above)"; exit 1; }
echo "python: $PY"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_plots.XXXXXX") || { echo "FAIL: mktemp"; exit 1; }
if [[ "${KEEP_TMP:-0}" == 1 ]]; then
  echo "keeping $TMP"
else
  trap 'rm -rf "$TMP"' EXIT
fi

# --- find_python.sh: the failure path must be a clear message and exit 1 --------------------------
check
out=$(FIND_PYTHON_CANDIDATES="/nonexistent/python3 no-such-python" "$ROOT/experiments/find_python.sh" 2>"$TMP/fp.err")
rc=$?
[[ $rc -eq 1 && -z "$out" && -s "$TMP/fp.err" ]] || fail "find_python.sh with no usable candidate: rc=$rc (want 1), stdout='$out'"

# --- fixture ------------------------------------------------------------------------------------
SWEEP="$TMP/sweep.h5"
THEORY="$TMP/theory.h5"
if ! "$PY" "$HERE/make_fixture.py" "$SWEEP" "$THEORY" >"$TMP/fixture.log" 2>&1; then
  cat "$TMP/fixture.log"; echo "FAIL: make_fixture.py"; exit 1
fi

# --- sqrtdk figures: every figure as a real PNG and an SVG ---------------------------------------
FIGS="$TMP/figs"
if ! "$PY" -m sqrtdk figures --sweep "$SWEEP" --theory "$THEORY" --out "$FIGS" >"$TMP/plot.out" 2>"$TMP/plot.err"; then
  fail "sqrtdk figures exited non-zero"; cat "$TMP/plot.out" "$TMP/plot.err"
fi
check
grep -q Traceback "$TMP/plot.err" && fail "sqrtdk figures printed a traceback"
check
grep -q "1 non-complete run skipped (1 interrupted)" "$TMP/plot.out" \
  || fail "sqrtdk figures does not report the skipped interrupted run"

PNG_MAGIC="89504e470d0a1a0a"
expected=(theory_var_qk theory_saturation)
for task in teacher recall; do
  for base in loss_vs_step logit_grad_vs_dk saturation_vs_dk grad_norms_vs_dk entropy_vs_dk; do
    expected+=("${base}_${task}")
  done
done
for name in "${expected[@]}"; do
  for ext in png svg; do
    f="$FIGS/$name.$ext"
    check
    [[ -s "$f" ]] || { fail "missing or empty: $name.$ext"; continue; }
    if [[ $ext == png ]]; then
      check
      magic=$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')
      [[ "$magic" == "$PNG_MAGIC" ]] || fail "$name.png is not a PNG (magic $magic)"
    else
      check
      grep -q "<svg" "$f" || fail "$name.svg has no <svg element"
    fi
  done
done
check
n_files=$(find "$FIGS" -type f | wc -l)
[[ $n_files -eq $((2 * ${#expected[@]})) ]] || fail "expected $((2 * ${#expected[@]})) files in the output dir, found $n_files"

# Only the theory file: theory figures written, the per-task ones reported as skipped.
check
if "$PY" -m sqrtdk figures --theory "$THEORY" --out "$TMP/theory_only" >"$TMP/t.out" 2>&1; then
  if ! [[ -s "$TMP/theory_only/theory_var_qk.png" && ! -e "$TMP/theory_only/loss_vs_step_teacher.png" ]] \
     || ! grep -q "^skipped .*no --sweep file" "$TMP/t.out"; then
    fail "--theory only: wrong figures or no 'skipped' line"
  fi
else
  fail "sqrtdk figures --theory only exited non-zero"; cat "$TMP/t.out"
fi

# --task restricts the figures to that task.
check
if "$PY" -m sqrtdk figures --sweep "$SWEEP" --task recall --out "$TMP/recall_only" >/dev/null 2>&1; then
  [[ -s "$TMP/recall_only/loss_vs_step_recall.svg" && ! -e "$TMP/recall_only/loss_vs_step_teacher.png" ]] \
    || fail "--task recall: wrong set of figures"
else
  fail "sqrtdk figures --task recall exited non-zero"
fi

# --- sqrtdk scale-table -------------------------------------------------------------------------------
DKS=(1 4 16)
if ! "$PY" -m sqrtdk scale-table --sweep "$SWEEP" >"$TMP/table.txt" 2>"$TMP/table.err"; then
  fail "sqrtdk scale-table exited non-zero"; cat "$TMP/table.txt" "$TMP/table.err"
fi
for task in teacher recall; do
  for dk in "${DKS[@]}"; do
    check
    n=$(grep -Ec "^${task} +${dk} " "$TMP/table.txt")
    [[ $n -eq 1 ]] || fail "plain table: $n rows for task=$task d_k=$dk (want 1)"
  done
  check
  grep -Eq "^note: ${task}: unscaled/scaled final-loss ratio at the largest d_k \(16\): [0-9.e+-]+$" "$TMP/table.txt" \
    || fail "plain table: no final-loss ratio note for $task"
done
check
rows=$(grep -Ec '^(teacher|recall) +[0-9]+ ' "$TMP/table.txt")
[[ $rows -eq 6 ]] || fail "plain table: $rows data rows (want 6 = 2 tasks x 3 d_k)"
check
grep -q '|' "$TMP/table.txt" && fail "plain table contains '|' (looks like Markdown)"
# The interrupted run (teacher-dk16-none-seed2) must not count: 2 sqrt / 2 none seeds, not 2/3.
check
grep -Eq '^teacher +16 +2/2 ' "$TMP/table.txt" || fail "plain table: teacher d_k=16 should use 2/2 seeds (interrupted run skipped)"

if ! "$PY" -m sqrtdk scale-table --sweep "$SWEEP" --task teacher --markdown >"$TMP/table.md" 2>"$TMP/md.err"; then
  fail "sqrtdk scale-table --markdown exited non-zero"; cat "$TMP/table.md" "$TMP/md.err"
fi
check
head -n 1 "$TMP/table.md" | grep -Eq '^\| *task *\|' || fail "--markdown output does not start with a '|' header row"
check
sed -n 2p "$TMP/table.md" | grep -Eq '^\|( *:?-+:? *\|)+$' || fail "--markdown: line 2 is not a separator row"
for dk in "${DKS[@]}"; do
  check
  n=$(grep -Ec "^\| teacher \| ${dk} \|" "$TMP/table.md")
  [[ $n -eq 1 ]] || fail "markdown table: $n rows for d_k=$dk (want 1)"
done
check
grep -q "recall" "$TMP/table.md" && fail "--task teacher table mentions recall"

# --- bad input: exit 2, exactly one line on stderr, no traceback, no output directory -------------
echo "not an hdf5 file" >"$TMP/notes.txt"
"$PY" -c 'import h5py, sys; h5py.File(sys.argv[1], "w").create_group("other")' "$TMP/noruns.h5"
bad_case() {   # label, then the command (its --out, if any, must be $TMP/bad_out)
  local label=$1; shift
  rm -rf "$TMP/bad_out"
  "$@" >"$TMP/bad.out" 2>"$TMP/bad.err"
  local rc=$? lines
  lines=$(wc -l <"$TMP/bad.err")
  check
  [[ $rc -eq 2 ]] || fail "$label: exit code $rc (want 2)"
  check
  [[ $lines -eq 1 ]] || { fail "$label: $lines stderr lines (want 1)"; sed 's/^/    /' "$TMP/bad.err"; }
  check
  grep -q Traceback "$TMP/bad.err" && fail "$label: traceback on stderr"
  check
  [[ -e "$TMP/bad_out" ]] && fail "$label: output directory was created"
  check
  [[ -s "$TMP/bad.out" ]] && fail "$label: printed on stdout"
}
for f in "$TMP/missing.h5" "$TMP/notes.txt" "$TMP/noruns.h5"; do
  bad_case "figures --sweep $(basename "$f")" "$PY" -m sqrtdk figures --sweep "$f" --theory "$THEORY" --out "$TMP/bad_out"
  bad_case "scale-table --sweep $(basename "$f")" "$PY" -m sqrtdk scale-table --sweep "$f"
  # The error line names the file.
  check
  grep -q "$(basename "$f")" "$TMP/bad.err" || fail "scale-table error does not name $(basename "$f")"
done
bad_case "figures --theory <sweep file>" "$PY" -m sqrtdk figures --theory "$SWEEP" --out "$TMP/bad_out"
bad_case "figures --task unknown" "$PY" -m sqrtdk figures --sweep "$SWEEP" --task nosuchtask --out "$TMP/bad_out"
bad_case "scale-table --task unknown" "$PY" -m sqrtdk scale-table --sweep "$SWEEP" --task nosuchtask

# --- several files, --where, --group-by, and runs of different settings -----------------------------
# MIXED has every configuration at two learning rates (make_fixture.py --mixed): averaging them over seeds
# would mix the two, so both scripts refuse, naming lr, unless lr is filtered or grouped.
MIXED="$TMP/mixed.h5"
"$PY" "$HERE/make_fixture.py" --mixed "$MIXED" >>"$TMP/fixture.log" 2>&1 || fail "make_fixture.py --mixed"
bad_case "figures on mixed learning rates" "$PY" -m sqrtdk figures --sweep "$MIXED" --out "$TMP/bad_out"
check
grep -q "differ in lr (0.001, 0.01" "$TMP/bad.err" || fail "figures refusal does not name lr: $(cat "$TMP/bad.err")"
bad_case "scale-table on mixed learning rates" "$PY" -m sqrtdk scale-table --sweep "$MIXED"
check
grep -q "differ in lr" "$TMP/bad.err" || fail "scale-table refusal does not name lr: $(cat "$TMP/bad.err")"
bad_case "figures with one file twice" "$PY" -m sqrtdk figures --sweep "$SWEEP" "$SWEEP" --out "$TMP/bad_out"
check
grep -q "counted twice" "$TMP/bad.err" || fail "figures with a file twice: $(cat "$TMP/bad.err")"
bad_case "figures --where unknown attribute" "$PY" -m sqrtdk figures --sweep "$MIXED" --where colour=red --out "$TMP/bad_out"

# --group-by lr: one set of figures per learning rate, each titled with the settings it holds fixed.
check
if "$PY" -m sqrtdk figures --sweep "$MIXED" --group-by lr --task teacher --out "$TMP/by_lr" >"$TMP/by_lr.out" 2>&1; then
  for lr in 0.001 0.01; do
    check
    [[ -s "$TMP/by_lr/loss_vs_step_teacher_lr$lr.png" && -s "$TMP/by_lr/saturation_vs_dk_teacher_lr$lr.svg" ]] \
      || fail "--group-by lr: no figures for lr=$lr"
    check
    grep -q "fixed: .*lr=$lr," "$TMP/by_lr/saturation_vs_dk_teacher_lr$lr.svg" \
      || fail "--group-by lr: the title of the lr=$lr figure does not show lr=$lr as fixed"
  done
else
  fail "sqrtdk figures --group-by lr exited non-zero"; cat "$TMP/by_lr.out"
fi
# Several files and --where: the lr=1e-3 runs of MIXED only (SWEEP has lr 0.01 alone).
check
if "$PY" -m sqrtdk figures --sweep "$SWEEP" "$MIXED" --where lr=1e-3 --where task=recall --out "$TMP/where" \
     >"$TMP/where.out" 2>&1; then
  n_used=$("$PY" -c 'import sys, h5py
with h5py.File(sys.argv[1]) as f:
    task = lambda g: g.attrs["task"].decode() if isinstance(g.attrs["task"], bytes) else g.attrs["task"]
    print(sum(1 for g in f["runs"].values() if g.attrs["lr"] == 1e-3 and task(g) == "recall"))' "$MIXED")
  grep -q ": $n_used complete runs used" "$TMP/where.out" || fail "--where lr=1e-3 task=recall: not $n_used runs used"
  check
  [[ -s "$TMP/where/loss_vs_step_recall.png" && ! -e "$TMP/where/loss_vs_step_teacher.png" ]] \
    || fail "--where task=recall: wrong set of figures"
else
  fail "sqrtdk figures with two files and --where exited non-zero"; cat "$TMP/where.out"
fi
check
"$PY" -m sqrtdk scale-table --sweep "$MIXED" --group-by lr >"$TMP/by_lr.txt" 2>&1 || fail "scale-table --group-by lr failed"
for lr in 0.001 0.01; do
  check
  n=$(grep -Ec "^teacher lr=$lr +[0-9]+ " "$TMP/by_lr.txt")
  [[ $n -eq 3 ]] || fail "scale-table --group-by lr: $n rows for teacher lr=$lr (want 3 d_k)"
done

echo "$CHECKS checks, $FAILS failed"
if [[ $FAILS -ne 0 ]]; then
  echo "test_plots: FAIL"
  exit 1
fi
echo "test_plots: PASS"
