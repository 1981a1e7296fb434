#!/usr/bin/env bash
# Grids beyond products: a sweep INI with several [grid] blocks runs their union, and `sweep --dry-run`
# lists the runs without training or touching a file.
#
#   bash tests/experiments/cli/sweep_blocks_test.sh [SANDBOX_BINARY] [REPO_ROOT]      (ctest: sweep.grid_blocks)
#
# On experiments/examples/adam_vs_sgd.ini (an Adam block and an SGD block, each with its own learning rates):
#   * --dry-run prints one line per run (28: 12 Adam, 16 SGD) with unique names and each block's own lrs,
#     exits 0, and creates or changes no file (not even --out);
#   * the same grid, made tiny on the command line, runs: the file holds exactly the runs the dry run
#     listed, Adam runs at Adam's lrs only and SGD runs at SGD's only;
#   * two blocks that give the same run are refused with one line naming both blocks (exit 2, no file).
# The bad-input side of blocks (an empty block, a key twice in one block) is in cli.bad_input_matrix.
set -uo pipefail
# shellcheck source=tests/experiments/cli/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hx_init "$@"
if [[ -z "$PY" ]]; then
  echo "SKIPPED: no Python with h5py (experiments/find_python.sh) to read the sweep's file"
  exit 77
fi
INI=$ROOT/experiments/examples/adam_vs_sgd.ini
cd "$SCRATCH" || exit 1
mkdir work

# ---- --dry-run: the 28 runs, nothing touched
hx_snapshot work >before
if "$SANDBOX" sweep --config "$INI" --out work/dry.h5 --dry-run >dry.out 2>dry.err; then
  hx_snapshot work >after
  runs=$(grep -c '^  ' dry.out)
  names=$(grep '^  ' dry.out | awk '{print $1}' | sort -u | wc -l)
  if [[ $runs -eq 28 && $names -eq 28 ]] && cmp -s before after && [[ ! -s dry.err ]] \
    && head -1 dry.out | grep -q '28 runs from 2 \[grid\] blocks' \
    && [[ $(grep -c 'block 1: .*optimizer=adam' dry.out) -eq 12 && $(grep -c 'block 2: .*optimizer=sgd' dry.out) -eq 16 ]] \
    && ! grep 'optimizer=adam' dry.out | grep -qE 'lr=(0.03|0.1|0.3|1) ' \
    && ! grep 'optimizer=sgd' dry.out | grep -qE 'lr=(0.001|0.003|0.01) '; then
    hx_pass "dry run lists 28 runs of two blocks, unique names, each block's own lrs, no file touched"
  else
    hx_fail "dry run" "runs $runs, unique names $names, files changed: $(cmp -s before after && echo no || echo yes), output: $(head -5 dry.out | tr '\n' '|') stderr: $(head -c 200 dry.err)"
  fi
else
  hx_fail "dry run" "exit $?: $(head -c 300 dry.err)"
fi

# ---- the same grid, tiny: it runs, and the file holds what the dry run listed
TINY=(--run.d-model 8 --run.seq-len 4 --run.batch 2 --run.steps 3 --run.no-gradcheck --run.eval-batches 1 --grid.seed 0)
"$SANDBOX" sweep --config "$INI" "${TINY[@]}" --dry-run >tiny_dry.out 2>&1
if "$SANDBOX" sweep --config "$INI" "${TINY[@]}" --out work/s.h5 --jobs 2 --quiet >run.out 2>&1; then
  grep '^  ' tiny_dry.out | awk '{print $1}' | sort >listed.txt
  if "$PY" - work/s.h5 listed.txt <<'PYEOF' >check.out 2>&1; then
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    runs = {name: dict(g.attrs) for name, g in f["runs"].items()}
listed = open(sys.argv[2]).read().split()
assert sorted(runs) == listed, f"file {sorted(runs)} != dry run {listed}"
lrs = {}
for a in runs.values():
    opt = a["optimizer"].decode() if isinstance(a["optimizer"], bytes) else a["optimizer"]
    lrs.setdefault(opt, set()).add(float(a["lr"]))
assert lrs == {"adam": {0.001, 0.003, 0.01}, "sgd": {0.03, 0.1, 0.3, 1.0}}, lrs
assert len(runs) == 14, len(runs)
print(len(runs), "runs:", {k: sorted(v) for k, v in lrs.items()})
PYEOF
    hx_pass "the two blocks ran: $(tail -1 check.out)"
  else
    hx_fail "the two blocks ran" "$(tr '\n' '|' <check.out)"
  fi
else
  hx_fail "the two blocks ran" "sweep failed: $(tail -2 run.out | tr '\n' '|')"
fi

# ---- a clash: both blocks give adam at lr 0.01
printf '[grid]\noptimizer = adam\nlr = 0.001 0.01\n\n[grid]\noptimizer = adam sgd\nlr = 0.01\n[run]\nd-model = 8\nseq-len = 4\nbatch = 2\nsteps = 2\n' >work/clash.ini
hx_snapshot work >before
"$SANDBOX" sweep --config work/clash.ini --out work/clash.h5 >clash.out 2>clash.err
rc=$?
hx_snapshot work >after
if [[ $rc -eq 2 && $(wc -l <clash.err) -eq 1 && ! -s clash.out ]] && grep -q 'clash.ini:1' clash.err && grep -q 'clash.ini:5' clash.err \
  && grep -q 'both give the run' clash.err && cmp -s before after; then
  hx_pass "two blocks giving one run: one line naming both blocks, exit 2 ($(cat clash.err))"
else
  hx_fail "clash" "exit $rc, stderr: $(tr '\n' '|' <clash.err), files changed: $(cmp -s before after && echo no || echo yes)"
fi

hx_summary
