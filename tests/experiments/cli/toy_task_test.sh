#!/usr/bin/env bash
# A task registered from the test tree alone (tests/models/toy_task.cpp, built into sandbox_with_toy_task)
# works like a built-in one: `train --task toy` trains it (its loss falls, its attribute and output width
# are stored), a `sweep` over scales and seeds runs it (each run equal, bit for bit, to the same run
# trained alone), its own validation rules give one line and exit 2, and --help lists it. The plain
# `sandbox` does not know it: the registry is the only place a task is added.
#
#   bash tests/experiments/cli/toy_task_test.sh TOY_SANDBOX SANDBOX      (ctest: registry.toy_task)
# Exits 1 with "FAIL: ..." lines; 77 (skipped) when no Python with h5py is found to read the files.
set -uo pipefail
TOY=${1:?usage: toy_task_test.sh TOY_SANDBOX SANDBOX}
SANDBOX=${2:?usage: toy_task_test.sh TOY_SANDBOX SANDBOX}
PY=/usr/bin/python3  # Debian's, with h5py (the `python3` first on PATH may lack it)
if ! "$PY" -c 'import h5py' 2>/dev/null; then
  echo "SKIP: no /usr/bin/python3 with h5py to read the run files"
  exit 77
fi
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
cd "$SCRATCH" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

SMALL=(--d-model 8 --dk 4 --dv 4 --seq-len 5 --batch 4 --eval-batches 2 --no-gradcheck)

# 1. train
"$TOY" train --task toy "${SMALL[@]}" --steps 60 --lr 0.05 --out train.h5 >train.out 2>train.err ||
  fail "train --task toy exited $?: $(cat train.err)"
"$PY" - train.h5 <<'EOF' || fail "train.h5 does not hold a trained toy run"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    runs = list(f["runs"])
    assert runs == ["toy-dk4-sqrt-seed0"], runs
    run = f["runs"][runs[0]]
    a = run.attrs
    assert a["task"] == "toy" and a["status"] == "complete", dict(a)
    assert a["toy_columns"] == 4 and a["d_out"] == 4, (a["toy_columns"], a["d_out"])
    loss = run["loss"][()]
    assert len(loss) == 60 and loss[-1] < 0.8 * loss[0], (loss[0], loss[-1])
    assert "accuracy" not in run, "a regression task logged an accuracy"
EOF

# 2. sweep: 2 scales x 2 seeds, and one of its runs equals the same configuration trained alone
printf '[grid]\nscale = sqrt linear\nseed = 0 1\n[run]\ntask = toy\nd-model = 8\ndk = 4\ndv = 4\nseq-len = 5\nbatch = 4\nsteps = 20\neval-batches = 2\nno-gradcheck = true\n' >toy.ini
"$TOY" sweep --config toy.ini --jobs 2 --quiet --out sweep.h5 >sweep.out 2>sweep.err || fail "sweep over task toy exited $?: $(cat sweep.err)"
"$TOY" train --task toy --d-model 8 --dk 4 --dv 4 --seq-len 5 --batch 4 --steps 20 --eval-batches 2 --no-gradcheck \
  --scale linear --seed 1 --out alone.h5 >alone.out 2>alone.err || fail "train of one sweep run exited $?"
"$PY" - sweep.h5 alone.h5 <<'EOF' || fail "sweep.h5 does not hold the 4 toy runs, equal to runs trained alone"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f, h5py.File(sys.argv[2], "r") as g:
    names = sorted(f["runs"])
    assert len(names) == 4, names
    for name in names:
        a = f["runs"][name].attrs
        assert a["task"] == "toy" and a["status"] == "complete" and a["toy_columns"] == 4, (name, dict(a))
    (alone,) = list(g["runs"])
    for series in ("loss", "eval/loss"):
        assert np.array_equal(f["runs"][alone][series][()], g["runs"][alone][series][()]), (alone, series)
EOF

# 3. the task's own rules, through the CLI's validation: one line, exit 2, no file
check_refused() {  # NEEDLE ARGS...
  local needle=$1
  shift
  "$TOY" "$@" >out.txt 2>err.txt
  local rc=$?
  ((rc == 2)) || fail "$* exited $rc (want 2)"
  [[ $(wc -l <err.txt) -eq 1 ]] || fail "$* printed $(wc -l <err.txt) stderr lines (want 1)"
  grep -qF -- "$needle" err.txt || fail "$*: stderr '$(cat err.txt)' does not say '$needle'"
  [[ ! -e refused.h5 ]] || fail "$* created its --out file"
}
check_refused "--seq-len must be at least 3 for task toy" train --task toy --seq-len 2 --out refused.h5
check_refused "--task toy is for self_attention, not --model cross" train --task toy --model cross --context-len 3 --out refused.h5

# 4. the choices: the toy binary lists it, the plain sandbox does not know it
"$TOY" train --help 2>&1 | tr -s ' \n' ' ' | grep -qF "teacher, recall, sense or toy; lookup with --model cross" ||
  fail "train --help of the toy binary does not list toy among the tasks"
"$SANDBOX" train --task toy --out refused.h5 >out.txt 2>err.txt
grep -qF "unknown task 'toy' (choose teacher, recall, sense, lookup or text)" err.txt ||
  fail "plain sandbox: '$(cat err.txt)' is not the unknown-task message"

if ((failures > 0)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "toy task: trained, swept, validated and listed"
