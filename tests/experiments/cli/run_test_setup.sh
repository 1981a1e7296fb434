# shellcheck shell=bash
# Set-up shared by the run-driving script tests (sourced after `set -uo pipefail`):
#   TEST_NAME=name; source "$(dirname "${BASH_SOURCE[0]}")/run_test_setup.sh" "$@"
# gives SANDBOX, ROOT, LAYOUT (the h5py layout checker), PY, SANDBOX_REAL, a scratch directory TMP removed
# on exit (unless KEEP_TMP=1), BG (a background pid killed on exit if set), fail, note, sha and
# wait_for_handlers (a background sandbox's stderr is expected in $TMP/bg.err).
SANDBOX=${1:?usage: $TEST_NAME.sh SANDBOX_BINARY SOURCE_DIR}
ROOT=${2:?usage: $TEST_NAME.sh SANDBOX_BINARY SOURCE_DIR}
LAYOUT="$ROOT/tests/experiments/cli/check_run_layout.py"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
note() { echo "  $*"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

PY=$("$ROOT/experiments/find_python.sh") || fail "experiments/find_python.sh found no Python with h5py"
[[ -x "$SANDBOX" ]] || fail "no sandbox binary at $SANDBOX"
SANDBOX_REAL=$(readlink -f "$SANDBOX")

TMP=$(mktemp -d "${TMPDIR:-/tmp}/$TEST_NAME.XXXXXX") || fail "mktemp"
BG=""
cleanup() {
  if [[ -n "$BG" ]] && kill -0 "$BG" 2>/dev/null; then kill -9 "$BG" 2>/dev/null; wait "$BG" 2>/dev/null; fi
  [[ "${KEEP_TMP:-0}" == 1 ]] && echo "kept $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT

# Waits until process $1 has installed its SIGINT and SIGTERM handlers (SigCgt in /proc), i.e. it has
# checked its arguments and is about to train. Fails if it exits first.
wait_for_handlers() {
  local pid=$1 key value mask exe i
  for ((i = 0; i < 4000; i++)); do
    # The forked shell catches SIGINT and SIGTERM itself until it has exec'd the sandbox: check which
    # program is running before reading the mask (read after, the mask could still be the shell's, and the
    # test would send its signal before the sandbox could catch it: an intermittent failure).
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null)
    mask=""
    while read -r key value; do [[ $key == SigCgt: ]] && mask=$value; done <"/proc/$pid/status" 2>/dev/null
    [[ -z "$mask" ]] && fail "process $pid exited before installing its signal handlers: $(cat "$TMP/bg.err")"
    [[ "$exe" == "$SANDBOX_REAL" ]] && (((16#$mask & 0x4002) == 0x4002)) && return 0
    sleep 0.005
  done
  fail "process $pid did not install its signal handlers within 20 s"
}

# refuses_damaged_run CASE FILE RUN OTHER WHY [TRAIN_ARGS...]: FILE holds a damaged run RUN (WHY: what the
# one-line refusal says after "run 'RUN' is damaged", "" for anything) and an intact run OTHER. `merge`
# refuses it naming the run and creates nothing; `merge --skip-damaged` keeps OTHER alone and says what it
# skipped; `train --out FILE` (with TRAIN_ARGS) refuses before training. FILE is left as it was.
refuses_damaged_run() {
  local case=$1 file=$2 run=$3 other=$4 why=$5 rc before
  shift 5
  before=$(sha "$file")
  "$SANDBOX" merge "m_$case.h5" "$file" >out 2>err
  rc=$?
  [[ $rc -eq 2 && $(wc -l <err) -eq 1 ]] || fail "merge ($case): exit $rc, want 2 and one line: $(cat err)"
  grep -qF "run '$run' is damaged$why" err || fail "merge ($case): the damaged run is not named so: $(cat err)"
  [[ ! -e "m_$case.h5" ]] || fail "merge ($case): created the output"
  "$SANDBOX" merge --skip-damaged "m_$case.h5" "$file" >out 2>err || fail "merge --skip-damaged ($case): $(cat err)"
  grep -q "skipped 1 damaged runs: $file: $run" err || fail "merge --skip-damaged ($case) does not say what it skipped: $(cat err)"
  "$PY" -c 'import h5py, sys; r = sorted(h5py.File(sys.argv[1], "r")["runs"]); assert r == [sys.argv[2]], r' "m_$case.h5" "$other" \
    || fail "merge --skip-damaged ($case): want only $other"
  timeout 60 "$SANDBOX" train "$@" --steps 50000000 --out "$file" >out 2>err
  rc=$?
  [[ $rc -eq 2 && $(wc -l <err) -eq 1 ]] || fail "train --out into a file with a damaged run ($case): exit $rc (124: it trained first), want 2: $(cat err)"
  grep -qF "run '$run' is damaged$why" err || fail "train ($case): the damaged run is not named so: $(cat err)"
  [[ $(sha "$file") == "$before" ]] || fail "refusals changed $file ($case)"
}
