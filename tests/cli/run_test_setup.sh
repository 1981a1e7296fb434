# shellcheck shell=bash
# Set-up shared by the run-driving script tests (sourced after `set -uo pipefail`):
#   TEST_NAME=name; source "$(dirname "${BASH_SOURCE[0]}")/run_test_setup.sh" "$@"
# gives SANDBOX, ROOT, LAYOUT (the h5py layout checker), PY, SANDBOX_REAL, a scratch directory TMP removed
# on exit (unless KEEP_TMP=1), BG (a background pid killed on exit if set), fail, note and sha.
SANDBOX=${1:?usage: $TEST_NAME.sh SANDBOX_BINARY SOURCE_DIR}
ROOT=${2:?usage: $TEST_NAME.sh SANDBOX_BINARY SOURCE_DIR}
LAYOUT="$ROOT/tests/py/check_run_layout.py"

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
