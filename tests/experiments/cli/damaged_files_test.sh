#!/usr/bin/env bash
# Damaged run files never crash the sandbox, and a damaged run is named, refused or redone.
#   bash tests/experiments/cli/damaged_files_test.sh SANDBOX_BINARY SOURCE_DIR       (ctest: robust.damaged_files)
#   FUZZ_VARIANTS=N (default 200), FUZZ_SEED=S (default: random, printed)
# Exits non-zero at the first failure, with a line "FAIL: ..." saying what went wrong.
#
# 1. Runs damaged on purpose with h5py (loss a string, 2-D, empty, NaN; a series shorter than step; a run
#    whose group no longer opens): `merge` refuses naming the run and changes nothing, `merge
#    --skip-damaged` merges the others and says which it skipped, `train --out` refuses before training,
#    and a sweep resume redoes the damaged run (the file is whole afterwards).
# 2. Fuzz: FUZZ_VARIANTS copies of a real small run file, and of a `grad` input, with random bytes flipped
#    (the seed is printed: FUZZ_SEED=S reproduces a failure), each fed to `merge`, `train --out`, a sweep
#    resume and `grad`: exit 0 or 2 (grad: or 3, a non-finite loss), at most 3 lines on stderr, never a signal.
set -uo pipefail

TEST_NAME=damaged_files_test
# shellcheck source=run_test_setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/run_test_setup.sh" "$@"
cd "$TMP" || fail "cd $TMP"
VARIANTS=${FUZZ_VARIANTS:-200}
SEED=${FUZZ_SEED:-$RANDOM$RANDOM}

printf '[grid]\ntask = teacher\ndk = 2\nscale = none sqrt\nseed = 0\n[run]\nd-model = 4\nseq-len = 3\nbatch = 2\nsteps = 3\nno-gradcheck = true\n' >grid.ini
TRAIN=(--d-model 4 --dk 2 --dv 2 --seq-len 3 --batch 2 --no-gradcheck --run extra)
"$SANDBOX" sweep --config grid.ini --out base.h5 --jobs 1 --quiet >/dev/null 2>err || fail "base file: $(cat err)"
RUN=teacher-dk2-none-seed0
OTHER=teacher-dk2-sqrt-seed0

# ---- 1. damaged on purpose -----------------------------------------------------------------------------
damage() {  # OUT HOW: a copy of base.h5 with run $RUN damaged
  cp base.h5 "$1"
  "$PY" - "$1" "$2" "$RUN" <<'PY' || fail "damaging $1 ($2)"
import sys, h5py, numpy as np
path, how, run = sys.argv[1:]
with h5py.File(path, "a") as f:
    g = f["runs"][run]
    n = len(g["step"])
    if how != "unopenable":
        del g["loss"]
    if how == "string": g["loss"] = np.array([b"x"] * n)
    elif how == "2d": g["loss"] = np.zeros((n, 2))
    elif how == "empty": g["loss"] = np.zeros(0)
    elif how == "nan": g["loss"] = np.full(n, np.nan)
    elif how == "short": g["loss"] = np.zeros(n - 1)
    elif how == "unopenable":  # the link stays, the object behind it is gone
        f["runs"][run + "_tmp"] = f["runs"][run]
        del f["runs"][run]
        f["runs"][run] = h5py.SoftLink("/nowhere")
        del f["runs"][run + "_tmp"]
PY
}
for how in string 2d empty nan short unopenable; do
  damage "d_$how.h5" "$how"
  refuses_damaged_run "$how" "d_$how.h5" "$RUN" "$OTHER" "" "${TRAIN[@]}"
  "$SANDBOX" sweep --config grid.ini --out "d_$how.h5" --jobs 1 >out 2>err || fail "sweep resume ($how): $(cat err)"
  head -n 1 out | grep -q "^sweep: 1 runs to do, 1 already complete, 1 damaged (redone if in this grid; first: $RUN" \
    || fail "sweep resume ($how): first line: $(head -n 1 out)"
  "$PY" "$LAYOUT" "d_$how.h5" "$RUN" --status complete >layout.out 2>&1 || { cat layout.out >&2; fail "sweep resume ($how): $RUN not redone"; }
  "$SANDBOX" merge "whole_$how.h5" "d_$how.h5" >out 2>err || fail "after the resume, d_$how.h5 is still damaged: $(cat err)"
done
note "a loss that is a string, 2-D, empty, NaN or short, and a run that no longer opens: named, refused, skipped or redone"

# A resumed sweep reports diverged runs as diverged, not as complete.
printf '[grid]\ntask = teacher\ndk = 2\nscale = none\nseed = 0 1\n[run]\ndv = dk\nd-model = 4\nseq-len = 3\nbatch = 2\nsteps = 30\noptimizer = sgd\nlr = 1e6\nno-gradcheck = true\n' >diverge.ini
"$SANDBOX" sweep --config diverge.ini --out div.h5 --jobs 1 --quiet >/dev/null 2>&1
"$SANDBOX" sweep --config diverge.ini --out div.h5 --jobs 1 >out 2>err || fail "resuming diverged runs: $(cat err)"
head -n 1 out | grep -q "^sweep: 0 runs to do, 0 already complete, 2 already diverged in div.h5" || fail "resume of diverged runs: $(head -n 1 out)"
note "a resumed sweep reports diverged runs as diverged"

# ---- 2. fuzz --------------------------------------------------------------------------------------------
echo "fuzz: $VARIANTS variants, FUZZ_SEED=$SEED"
"$PY" - "$SEED" "$VARIANTS" <<'PY' || fail "making the fuzz variants"
import sys, random, h5py, numpy as np
seed, count = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
with h5py.File("grad_in.h5", "w") as f:
    f["params/W_Q"] = rng.normal(size=(4, 2)); f["params/W_K"] = rng.normal(size=(4, 2)); f["params/W_V"] = rng.normal(size=(4, 3))
    f["inputs/X"] = rng.normal(size=(2, 3, 4)); f["targets/Y"] = rng.normal(size=(2, 3, 3)); f.attrs["scale"] = "sqrt"
r = random.Random(seed)
for name in ("base.h5", "grad_in.h5"):
    data = open(name, "rb").read()
    for v in range(count):
        b = bytearray(data)
        for _ in range(r.choice([1, 1, 2, 4, 16])):
            i = r.randrange(len(b))
            b[i] ^= 1 << r.randrange(8) if r.random() < 0.5 else r.randrange(1, 256)
        open(f"fuzz_{name[:-3]}_{v}.h5", "wb").write(bytes(b))
PY
# check CASE: the last command's exit code is in $rc, its stderr in err.
check() {  # CASE [ALSO_OK]: grad may also exit 3 (a damaged number can make the loss overflow)
  ((rc == 0 || rc == 2 || rc == ${2:-0})) || fail "$1: exit $rc (want 0 or 2; FUZZ_SEED=$SEED): $(head -c 300 err)"
  (($(wc -l <err) <= 3)) || fail "$1: $(wc -l <err) stderr lines (FUZZ_SEED=$SEED): $(head -c 300 err)"
}
counts=""
for ((v = 0; v < VARIANTS; v++)); do
  f=fuzz_base_$v.h5
  rm -f merged.h5; "$SANDBOX" merge merged.h5 "$f" >/dev/null 2>err; rc=$?; check "merge of variant $v"; counts+="m$rc "
  cp "$f" t.h5; "$SANDBOX" train "${TRAIN[@]}" --steps 3 --out t.h5 >/dev/null 2>err; rc=$?; check "train --out variant $v"; counts+="t$rc "
  cp "$f" s.h5; "$SANDBOX" sweep --config grid.ini --out s.h5 --jobs 1 --quiet >/dev/null 2>err; rc=$?; check "sweep resume of variant $v"; counts+="s$rc "
  "$SANDBOX" grad --in "fuzz_grad_in_$v.h5" --out g.h5 >/dev/null 2>err; rc=$?; check "grad of variant $v" 3; counts+="g$rc "
done
summary=$(tr ' ' '\n' <<<"$counts" | grep . | sort | uniq -c | tr '\n' ' ')
note "fuzz: every command exited 0 or 2 with at most 3 stderr lines (exit codes: $summary)"
echo "damaged_files_test: PASS"
