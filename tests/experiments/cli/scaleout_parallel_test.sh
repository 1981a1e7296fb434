#!/usr/bin/env bash
# The GNU parallel recipe, experiments/scaleout/parallel.sh, run for real with Debian's `parallel`:
# a tiny grid (6 runs) in 4 shards, merged, equals the same grid swept in one go, bit for bit (every dataset
# and attribute but wall_seconds), and the shards split the grid (non-empty, disjoint). experiments/README.md
# links the script. Run it again: each shard finds its runs done and the merge adds nothing.
#   bash tests/experiments/cli/scaleout_parallel_test.sh SANDBOX_BINARY SOURCE_DIR     (ctest: scaleout.parallel)
# Exit 0 passed, 1 failed ("FAIL: ..."), 77 skipped (GNU parallel missing, outside CI; one line says so).
set -uo pipefail

TEST_NAME=scaleout_parallel_test
# shellcheck source=run_test_setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/run_test_setup.sh" "$@"
# shellcheck source=scaleout_lib.sh
source "$ROOT/tests/experiments/cli/scaleout_lib.sh"
SANDBOX=$SANDBOX_REAL ROOT=$(cd "$ROOT" && pwd)  # absolute: the test runs in its temporary directory

readme_links experiments/scaleout/parallel.sh
need_tools "GNU parallel (Debian package parallel)" parallel
parallel --version 2>/dev/null | grep -q "GNU parallel" || skip "'parallel' is not GNU parallel (moreutils'?)"

cd "$TMP" || fail "cd $TMP"
export PARALLEL_HOME="$TMP/parallel-home"  # GNU parallel's own files, rather than in ~/.parallel
write_tiny_grid grid.ini
"$SANDBOX" sweep --config grid.ini --out whole.h5 --jobs 1 --quiet >/dev/null 2>err || fail "unsharded sweep: $(cat err)"

SANDBOX="$SANDBOX" "$ROOT/experiments/scaleout/parallel.sh" grid.ini merged.h5 4 >out 2>err ||
  fail "experiments/scaleout/parallel.sh exited $?: $(tail -5 err)"
note "parallel.sh: $(tr '\n' ' ' <out)"
check_shards whole.h5 merged.parts/part{0,1,2,3}.h5
same_runs whole.h5 merged.h5

# Again: nothing to redo, nothing added, the merged file unchanged.
before=$(sha merged.h5)
SANDBOX="$SANDBOX" "$ROOT/experiments/scaleout/parallel.sh" grid.ini merged.h5 4 >out 2>err ||
  fail "parallel.sh run again exited $?: $(tail -5 err)"
grep -q "0 runs added" out || fail "run again, the merge should add no run; it printed: $(cat out)"
[[ $(sha merged.h5) == "$before" ]] || fail "run again, parallel.sh changed the merged file"
echo "the GNU parallel recipe: 4 shards merged equal the unsharded sweep bit for bit: ok"
