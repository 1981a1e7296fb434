# shellcheck shell=bash
# Shared helpers for the script tests in tests/experiments/cli/ (sourced, not run).
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   hx_init "$@"             # SANDBOX (arg 1, else $SANDBOX_BINARY, else build/sandbox), ROOT (arg 2, else
#                            # the repository), SCRATCH (a fresh temporary directory, removed on exit unless
#                            # KEEP_TMP=1), PY (Python with h5py, or empty)
#   hx_pass NAME; hx_fail NAME WHY...
#   hx_sweeps INI...         # runs each sweep (two jobs) into $SCRATCH/<ini's stem>.h5; HX_FILES: those made
#   hx_check NAME CMD...     # passes NAME if CMD exits 0 (quoting its last two lines), else fails it
#   hx_snapshot DIR          # every path below DIR (hidden ones too) with its type, and a sha256 per file
#   hx_summary               # prints "N passed, M failed" as the last line; returns 0 only if M == 0
#
# Every check prints one line: "ok    NAME" or "FAIL  NAME: why". A check that cannot run here is not
# a pass: the whole script exits 77 (ctest's SKIP_RETURN_CODE) or the check goes into a test of its own.

HX_PASSED=0
HX_FAILED=0
HX_FAILED_NAMES=()

hx_init() {
  ROOT=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
  SANDBOX=${1:-${SANDBOX_BINARY:-$ROOT/build/sandbox}}
  if [[ ! -x "$SANDBOX" ]]; then
    echo "FAIL  setup: no sandbox binary at '$SANDBOX' (pass it as the first argument)"
    echo "0 passed, 1 failed"
    exit 1
  fi
  SANDBOX=$(cd "$(dirname "$SANDBOX")" && pwd)/$(basename "$SANDBOX")
  SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/sandbox_cli_test.XXXXXX") || { echo "FAIL  setup: mktemp"; exit 1; }
  if [[ "${KEEP_TMP:-0}" == 1 ]]; then
    echo "keeping $SCRATCH"
  else
    # shellcheck disable=SC2064
    trap "rm -rf '$SCRATCH'" EXIT
  fi
  PY=$("$ROOT/experiments/find_python.sh" 2>/dev/null) || PY=""
  echo "sandbox: $SANDBOX"
  echo "python:  ${PY:-<none with h5py>}"
}

hx_pass() {
  HX_PASSED=$((HX_PASSED + 1))
  echo "ok    $1"
}

hx_fail() {
  local name=$1
  shift
  HX_FAILED=$((HX_FAILED + 1))
  HX_FAILED_NAMES+=("$name")
  echo "FAIL  $name: $*"
}

# A sweep that fails is a failed check "sweep_<stem>" (its last line of output as the reason).
hx_sweeps() {
  local ini stem
  HX_FILES=()
  for ini in "$@"; do
    stem=$(basename "$ini" .ini)
    if "$SANDBOX" sweep --config "$ini" --out "$SCRATCH/$stem.h5" --jobs 2 --quiet >"$SCRATCH/$stem.log" 2>&1; then
      HX_FILES+=("$SCRATCH/$stem.h5")
    else
      hx_fail "sweep_$stem" "$(tail -1 "$SCRATCH/$stem.log")"
    fi
  done
}

hx_check() {
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then
    hx_pass "$name ($(echo "$out" | tail -2 | tr '\n' ';'))"
  else
    hx_fail "$name" "$(echo "$out" | head -40 | tr '\n' ';')"
  fi
}

# Every path below DIR (hidden ones too) with its type (find's %y letter), then a sha256 of every file.
hx_snapshot() {
  (
    cd "$1" || exit 1
    find . -mindepth 1 -printf '%y %p\n' | LC_ALL=C sort
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
  )
}

hx_summary() {
  echo
  if ((HX_FAILED > 0)); then
    printf 'failed:'
    printf ' [%s]' "${HX_FAILED_NAMES[@]}"
    echo
  fi
  echo "$HX_PASSED passed, $HX_FAILED failed"
  ((HX_FAILED == 0))
}
