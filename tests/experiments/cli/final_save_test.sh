#!/usr/bin/env bash
# A save that crashes (inside HDF5, on a damaged file) costs the save, never the trained runs.
#   bash tests/experiments/cli/final_save_test.sh SANDBOX_BINARY SOURCE_DIR       (ctest: robust.final_save)
# Exits non-zero at the first failure, with a line "FAIL: ..." saying what went wrong.
#
# Saving adds the runs to the existing file in a forked child. SANDBOX_TEST_CRASH_SAVING=FILE makes that
# child die (SIGABRT) the way a crash in the HDF5 library reading a damaged FILE would. Then, for `train`
# (also interrupted by SIGINT while it trains) and for a sweep: exit 2 (not a signal), one stderr line that
# names the fallback file, the existing file byte-identical, no temporary or lock file left, and every run
# in the fallback file, from which `sandbox merge` adds it to a copy of the file.
set -uo pipefail

TEST_NAME=final_save_test
# shellcheck source=run_test_setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/run_test_setup.sh" "$@"
cd "$TMP" || fail "cd $TMP"
TINY=(--d-model 4 --dk 2 --dv 2 --seq-len 3 --batch 2 --no-gradcheck)
"$SANDBOX" train "${TINY[@]}" --steps 5 --run first --out runs.h5 >/dev/null 2>err || fail "first run: $(cat err)"

# check_kept CASE WANT_RUNS...: the last command's exit code is in $rc, its stderr in err.
check_kept() {
  local case=$1
  shift
  ((rc > 128)) && fail "$case: killed by signal $((rc - 128)): $(cat err)"
  [[ $rc -eq 2 ]] || fail "$case: exit $rc, want 2: $(cat err)"
  [[ $(wc -l <err) -eq 1 ]] || fail "$case: want one stderr line, got: $(cat err)"
  grep -q "saving into runs.h5 crashed the HDF5 library" err || fail "$case: the crash is not said: $(cat err)"
  [[ $(sha runs.h5) == "$before" ]] || fail "$case: runs.h5 changed"
  local leftovers
  leftovers=$(ls -A | grep '^\.sbx-' || true)
  [[ -z "$leftovers" ]] || fail "$case: left behind: $leftovers"
  fallback=$(sed -n 's/.* saved to \(.*\) instead (add with: sandbox merge runs.h5 .*/\1/p' err)
  [[ -n "$fallback" && -f "$fallback" ]] || fail "$case: no fallback file named: $(cat err)"
  cp runs.h5 merged.h5
  "$SANDBOX" merge merged.h5 "$fallback" >/dev/null 2>merge.err || fail "$case: merging $fallback: $(cat merge.err)"
  "$PY" -c 'import h5py, sys; r = sorted(h5py.File(sys.argv[1], "r")["runs"]); assert r == sorted(sys.argv[2:]), r' \
    merged.h5 first "$@" || fail "$case: the merged file does not hold first $*"
  rm -f "$fallback" merged.h5
  note "$case: exit 2, '$(cut -c1-100 err)...', runs.h5 unchanged, the runs in the fallback file"
}

before=$(sha runs.h5)
SANDBOX_TEST_CRASH_SAVING=runs.h5 "$SANDBOX" train "${TINY[@]}" --steps 5 --run second --out runs.h5 >out 2>err
rc=$?
check_kept "train, the save crashing" second

# Interrupted while it trains: the logged steps are kept the same way.
SANDBOX_TEST_CRASH_SAVING=runs.h5 "$SANDBOX" train "${TINY[@]}" --steps 50000000 --run third --out runs.h5 >out 2>"$TMP/bg.err" &
BG=$!
wait_for_handlers "$BG"
kill -INT "$BG"
wait "$BG"
rc=$?
BG=""
mv "$TMP/bg.err" err
check_kept "train interrupted, the save crashing" third

printf '[grid]\ntask = teacher\ndk = 2\nscale = none sqrt\nseed = 0\n[run]\nd-model = 4\nseq-len = 3\nbatch = 2\nsteps = 3\nno-gradcheck = true\n' >grid.ini
SANDBOX_TEST_CRASH_SAVING=runs.h5 "$SANDBOX" sweep --config grid.ini --out runs.h5 --jobs 2 --quiet >out 2>err
rc=$?
check_kept "sweep, the save crashing" teacher-dk2-none-seed0 teacher-dk2-sqrt-seed0

echo "final_save_test: PASS"
