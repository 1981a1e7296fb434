#!/usr/bin/env bash
# Runs are identified by their whole configuration, driven through the real binary:
#   * the `config` attribute a run stores, given back to `sandbox train --config`, reproduces the run bit
#     for bit;
#   * a name already in the file with another configuration is refused by train, by a resumed sweep and
#     by merge (exit 2, one line naming the first differing option and both values, no file changed),
#     and --overwrite redoes it;
#   * any option is a grid axis (lr, causal, d-model here), default names carry the varying axes, a
#     --name template names runs, a UTF-8 byte-order mark is accepted;
#   * progress lines appear only on a terminal or with --progress; `sandbox --version` names the commit.
#
#   bash tests/experiments/cli/config_identity_test.sh [SANDBOX_BINARY] [REPO_ROOT]     (ctest: train.config_identity)
set -uo pipefail
# shellcheck source=tests/experiments/cli/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hx_init "$@"
cd "$SCRATCH" || exit 1
[[ -n "$PY" ]] || { hx_fail setup "no Python with h5py"; hx_summary; exit 1; }

# refused NAME NEEDLE... -- ARGS: exit 2, one stderr line mentioning every needle, no file changed.
refused() {
  local name=$1
  shift
  local -a needles=()
  while [[ $1 != -- ]]; do needles+=("$1"); shift; done
  shift
  local before after rc
  before=$(hx_snapshot "$SCRATCH/files")
  "$SANDBOX" "$@" </dev/null >out.txt 2>err.txt
  rc=$?
  after=$(hx_snapshot "$SCRATCH/files")
  local why=""
  ((rc == 2)) || why+="exit $rc (want 2); "
  [[ $(wc -l <err.txt) -eq 1 ]] || why+="$(wc -l <err.txt) stderr lines (want 1); "
  for n in "${needles[@]}"; do grep -qF -- "$n" err.txt || why+="stderr does not mention '$n'; "; done
  [[ "$before" == "$after" ]] || why+="files changed; "
  if [[ -z $why ]]; then hx_pass "$name"; else hx_fail "$name" "$why stderr: $(head -c 300 err.txt)"; fi
}

# Every dataset and attribute of two runs, compared bit for bit (wall_seconds and the checksum over it aside).
same_runs() {  # same_runs FILE_A RUN_A FILE_B RUN_B
  "$PY" - "$@" <<'EOF'
import sys, h5py, numpy as np
fa, ra, fb, rb = sys.argv[1:5]
with h5py.File(fa, "r") as a, h5py.File(fb, "r") as b:
    A, B = a["runs/" + ra], b["runs/" + rb]
    names = []
    A.visit(names.append)
    other = []
    B.visit(other.append)
    assert sorted(names) == sorted(other), (sorted(set(names) ^ set(other)))
    for n in names:
        if isinstance(A[n], h5py.Dataset):
            x, y = A[n][()], B[n][()]
            assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), n
    for k in A.attrs:
        if k in ("wall_seconds", "checksum"):  # the checksum covers wall_seconds
            continue
        assert k in B.attrs, k
        x, y = A.attrs[k], B.attrs[k]
        assert (x == y) if isinstance(x, str) else np.asarray(x).tobytes() == np.asarray(y).tobytes(), (k, x, y)
print("identical")
EOF
}

mkdir -p files
SMALL=(--d-model 10 --dk 3 --dv 5 --seq-len 5 --batch 3 --steps 9 --no-gradcheck)

# ---- the stored configuration reproduces the run -----------------------------------------------------
"$SANDBOX" train "${SMALL[@]}" --task recall --scale learned --causal --optimizer sgd --momentum 0.5 --lr 0.02 \
  --eval-every 4 --eval-batches 2 --log-every 2 --seed 5 --name A --out files/a.h5 >/dev/null 2>err.txt \
  || hx_fail "train A" "exit $?: $(cat err.txt)"
"$PY" -c 'import h5py,sys; f=h5py.File(sys.argv[1],"r"); open(sys.argv[2],"w").write(f["runs/A"].attrs["config"])' \
  files/a.h5 a.ini
if "$SANDBOX" train --config a.ini --name B --out files/a.h5 >/dev/null 2>err.txt; then
  if same_runs files/a.h5 A files/a.h5 B >cmp.txt 2>&1; then hx_pass "train --config <stored config> reproduces the run bit for bit"
  else hx_fail "train --config <stored config> reproduces the run bit for bit" "$(tail -2 cmp.txt)"; fi
else
  hx_fail "train --config <stored config>" "exit $?: $(cat err.txt)"
fi
grep -q '^causal = true$' a.ini && grep -q '^momentum = 0.5$' a.ini && grep -q '^dk = 3$' a.ini \
  && hx_pass "the stored config lists resolved values" || hx_fail "the stored config lists resolved values" "$(cat a.ini)"

# ---- the identity rule -------------------------------------------------------------------------------
refused "train: same name, other lr" "run 'A'" "lr = 0.02" "lr = 0.03" -- \
  train --config a.ini --lr 0.03 --name A --out files/a.h5
refused "train: same name, same configuration" "same configuration" -- train --config a.ini --name A --out files/a.h5
"$SANDBOX" train --config a.ini --lr 0.03 --name A --overwrite --out files/a.h5 >/dev/null 2>err.txt \
  && "$PY" -c 'import h5py,sys; assert h5py.File(sys.argv[1],"r")["runs/A"].attrs["lr"] == 0.03' files/a.h5 \
  && hx_pass "train --overwrite replaces a run of another configuration" \
  || hx_fail "train --overwrite replaces a run of another configuration" "$(cat err.txt)"

cat >grid.ini <<'EOF'
[grid]
lr = 0.01 0.03
causal = false true
d-model = 8
seed = 0
[run]
dk = 2
dv = dk
seq-len = 4
batch = 2
steps = 4
gradcheck = false
EOF
if "$SANDBOX" sweep --config grid.ini --out files/s.h5 --jobs 2 >sweep.out 2>err.txt; then
  names=$("$PY" -c 'import h5py,sys; print(" ".join(sorted(h5py.File(sys.argv[1],"r")["runs"])))' files/s.h5)
  want="teacher-dk2-sqrt-causal0-lr0.01-seed0 teacher-dk2-sqrt-causal0-lr0.03-seed0 teacher-dk2-sqrt-causal1-lr0.01-seed0 teacher-dk2-sqrt-causal1-lr0.03-seed0"
  [[ $names == "$want" ]] && hx_pass "lr and causal as grid axes: 4 runs, named by the varying axes" \
    || hx_fail "lr and causal as grid axes" "got: $names"
else
  hx_fail "sweep with lr and causal axes" "exit $?: $(cat err.txt)"
fi
refused "sweep resume with a changed [run] setting" "steps = 4" "steps = 5" -- \
  sweep --config grid.ini --out files/s.h5 --run.steps 5 --jobs 1
"$SANDBOX" sweep --config grid.ini --out files/s.h5 --jobs 1 >out.txt 2>err.txt && grep -q "0 runs to do, 4 already complete" out.txt \
  && hx_pass "sweep resume with the same grid skips every run" || hx_fail "sweep resume, same grid" "$(cat out.txt err.txt)"
"$SANDBOX" sweep --config grid.ini --out files/s.h5 --run.steps 5 --overwrite --jobs 1 >out.txt 2>err.txt \
  && "$PY" -c 'import h5py,sys; f=h5py.File(sys.argv[1],"r"); assert {r.attrs["steps"] for r in f["runs"].values()} == {5}' files/s.h5 \
  && hx_pass "sweep --overwrite redoes runs of another configuration" || hx_fail "sweep --overwrite" "$(cat err.txt)"

# A template name, and a byte-order mark at the start of the file.
printf '\xef\xbb\xbf[grid]\nlr = 0.01 0.03\n[run]\nd-model = 8\ndk = 2\nseq-len = 4\nbatch = 2\nsteps = 3\ngradcheck = false\n[sweep]\nname = {task}-lr{lr}-s{seed}\n' >bom.ini
"$SANDBOX" sweep --config bom.ini --out files/t.h5 --jobs 1 --quiet >/dev/null 2>err.txt \
  && names=$("$PY" -c 'import h5py,sys; print(" ".join(sorted(h5py.File(sys.argv[1],"r")["runs"])))' files/t.h5) \
  && [[ $names == "teacher-lr0.01-s0 teacher-lr0.03-s0" ]] \
  && hx_pass "[sweep] name template, and a UTF-8 byte-order mark" || hx_fail "[sweep] name template and BOM" "$(cat err.txt) ${names:-}"

# merge: the same name from a file where it has another configuration is refused.
"$SANDBOX" train "${SMALL[@]}" --name A --out files/m1.h5 >/dev/null 2>&1
"$SANDBOX" train "${SMALL[@]}" --lr 0.02 --name A --out files/m2.h5 >/dev/null 2>&1
refused "merge: same name, other configuration" "run 'A'" "lr = 0.02" "lr = 0.01" -- merge files/m3.h5 files/m1.h5 files/m2.h5
"$SANDBOX" merge files/m3.h5 files/m1.h5 >/dev/null 2>&1
refused "merge into a file that has the name with another configuration" "lr = 0.02" "lr = 0.01" "--overwrite" -- \
  merge files/m3.h5 files/m2.h5
"$SANDBOX" merge --overwrite files/m3.h5 files/m2.h5 >out.txt 2>err.txt \
  && "$PY" -c 'import h5py,sys; assert h5py.File(sys.argv[1],"r")["runs/A"].attrs["lr"] == 0.02' files/m3.h5 \
  && hx_pass "merge --overwrite replaces a run of another configuration" || hx_fail "merge --overwrite" "$(cat out.txt err.txt)"

# ---- progress and version ----------------------------------------------------------------------------
LONGER=(--d-model 10 --dk 3 --dv 5 --seq-len 5 --batch 3 --steps 30 --no-gradcheck)
"$SANDBOX" train "${LONGER[@]}" --name P --out files/p.h5 >quiet.txt 2>&1
"$SANDBOX" train "${LONGER[@]}" --name Q --out files/p.h5 --progress >loud.txt 2>&1
if [[ $(wc -l <quiet.txt) -eq 1 ]] && grep -q "step 30/30 .*steps/s.*ETA" loud.txt; then
  hx_pass "train: silent off a terminal, progress with --progress"
else
  hx_fail "train progress" "quiet: $(cat quiet.txt) | loud: $(cat loud.txt)"
fi
grep -q "runs/s.*ETA" sweep.out && hx_pass "sweep prints runs/s and an ETA" || hx_fail "sweep progress" "$(cat sweep.out)"
version=$("$SANDBOX" --version)
[[ $version =~ ^sandbox\ [0-9]+\.[0-9]+\.[0-9]+\ \(git\ [0-9a-z]+ ]] && hx_pass "sandbox --version: $version" \
  || hx_fail "sandbox --version" "$version"

hx_summary
