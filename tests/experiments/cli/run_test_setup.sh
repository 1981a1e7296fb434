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
