#!/usr/bin/env bash
# One name per setting: every run option is accepted in the command line's spelling (d-model, dk) and in
# the run files' (d_model, d_k), in every place a setting is given, and means the same option there.
#
#   bash tests/experiments/cli/setting_spellings_test.sh [SANDBOX_BINARY] [REPO_ROOT]   (ctest: cli.setting_spellings)
#
# Surfaces: `train --OPTION`, `train --config` (INI), a sweep's [run] and [grid], `--run.KEY` and `--grid.KEY`,
# and --name / [sweep] name templates. Each is checked for the value it sets (the stored attributes, or
# `sweep --dry-run`'s listing), not only for being accepted. Unknown names ("did you mean") are in
# cli.bad_input_matrix.
set -uo pipefail
# shellcheck source=tests/experiments/cli/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hx_init "$@"
if [[ -z "$PY" ]]; then
  echo "SKIPPED: no Python with h5py (experiments/find_python.sh) to read the runs' attributes"
  exit 77
fi
cd "$SCRATCH" || exit 1

# attrs FILE RUN KEY=VALUE...: the run's attributes have these values
attrs() {
  "$PY" - "$@" <<'PYEOF'
import sys, h5py
path, run, *pairs = sys.argv[1:]
with h5py.File(path, "r") as f:
    a = dict(f["runs"][run].attrs)
for pair in pairs:
    key, want = pair.split("=", 1)
    have = a[key].decode() if isinstance(a[key], bytes) else a[key]
    assert str(have) == want, f"{key} = {have!r}, want {want}"
print("ok", run, " ".join(pairs))
PYEOF
}

# ---- train: command line, both spellings mixed, and a name template in the attributes' spelling
if "$SANDBOX" train --d_model 12 --d_k 3 --dv 4 --seq_len 5 --batch 2 --steps 2 --no_gradcheck --lock_timeout 5 \
     --name '{d_model}-{d-model}-{dk}-{d_k}-{seq_len}' --out cli.h5 >cli.out 2>&1; then
  hx_check "train --d_model --d_k --seq_len --no_gradcheck, --name {d_model}{d-model}{dk}{d_k}" \
    attrs cli.h5 12-12-3-3-5 d_model=12 d_k=3 seq_len=5 gradcheck=0
else
  hx_fail "train with attribute spellings" "$(tail -2 cli.out | tr '\n' '|')"
fi

# ---- train --config: an INI in the attributes' spelling
printf 'd_model = 12\nd_k = 3\nd_v = 4\nseq_len = 5\nbatch = 2\nsteps = 2\ngradcheck = false\n' >train.ini
if "$SANDBOX" train --config train.ini --out ini.h5 >ini.out 2>&1; then
  hx_check "train --config with d_model, d_k, d_v, seq_len" attrs ini.h5 teacher-dk3-sqrt-seed0 d_model=12 d_k=3 d_v=4 seq_len=5
else
  hx_fail "train --config with attribute spellings" "$(tail -2 ini.out | tr '\n' '|')"
fi

# ---- sweep: [run] and [grid] in the attributes' spelling, [sweep] name with both; --run.KEY and --grid.KEY
printf '[grid]\nd_model = 8 12\nseq_len = 3\n[run]\nd_k = 2\nbatch = 2\nsteps = 2\nno_gradcheck = true\n[sweep]\nname = m{d_model}-n{seq-len}-k{dk}\n' >sweep.ini
"$SANDBOX" sweep --config sweep.ini --dry-run >dry.out 2>&1
if grep -q '^  m8-n3-k2 ' dry.out && grep -q '^  m12-n3-k2 ' dry.out && grep -q 'd-model=8' dry.out \
  && grep -q '^every run:.* dk=2 .*seq-len=3' dry.out && grep -q 'gradcheck=false' dry.out; then
  hx_pass "sweep [grid] d_model, seq_len, [run] d_k, no_gradcheck, [sweep] name {d_model}"
else
  hx_fail "sweep INI with attribute spellings" "$(tr '\n' '|' <dry.out)"
fi
"$SANDBOX" sweep --config sweep.ini --run.d_k 4 --grid.seq_len "3 5" --dry-run >dry2.out 2>&1
if [[ $(grep -c '^  m' dry2.out) -eq 4 ]] && grep -q '^  m12-n5-k4 ' dry2.out; then
  hx_pass "sweep --run.d_k and --grid.seq_len"
else
  hx_fail "sweep --run.d_k --grid.seq_len" "$(tr '\n' '|' <dry2.out)"
fi
if "$SANDBOX" sweep --config sweep.ini --out sweep.h5 --jobs 1 --quiet >sweep.out 2>&1; then
  hx_check "the sweep's runs have the values the dry run listed" attrs sweep.h5 m12-n3-k2 d_model=12 seq_len=3 d_k=2
else
  hx_fail "sweep with attribute spellings" "$(tail -2 sweep.out | tr '\n' '|')"
fi

hx_summary
