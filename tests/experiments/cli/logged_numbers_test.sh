#!/usr/bin/env bash
# Speed work must not change a single logged number: the sweeps of tests/data/logged_numbers/ scales.ini,
# heads.ini, cross.ini and options.ini (teacher, recall, sense, lookup; every scale mode; heads, causal, W^O,
# cross-attention; sgd/adamw, clipping, schedules, log-every > 1) are run with this build and every series
# and attribute of every run (except wall_seconds) is compared, through a checksum, to expected.txt, made
# by the sandbox of commit 21b7e72 (before the speed work) with:
#   for g in scales heads cross options; do sandbox sweep --config tests/data/logged_numbers/$g.ini --out $g.h5 --jobs 1 --quiet; done
#   tests/data/logged_numbers/checksums.py make scales.h5 heads.h5 cross.h5 options.h5 > tests/data/logged_numbers/expected.txt
# and the "# flavour:" line (what this script prints when it skips) inserted as its second line.
# Two jobs here: the runs of a sweep share its gradient checks and batches, and no number may depend on it.
# The checksums hold for the build flavour and CPU named on expected.txt's "# flavour:" line (the compiler,
# -march=native and the build type choose the floating-point kernels); with another one the test says so
# and exits 77 (skipped). Its twin, logged_values_test.sh, runs everywhere, within a relative tolerance.
# Usage: logged_numbers_test.sh SANDBOX_BINARY SOURCE_DIR [BUILD_FLAVOUR]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hx_init "$1" "$2"
data=$ROOT/tests/data/logged_numbers
cpu=$(grep -m1 '^flags' /proc/cpuinfo | sha256sum | cut -c1-12)
flavour="${3:-unknown} cpu-flags=$cpu"
expected_flavour=$(sed -n 's/^# flavour: //p' "$data/expected.txt")
if [[ "$flavour" != "$expected_flavour" ]]; then
  echo "SKIPPED: the expected checksums are for '$expected_flavour', this build is '$flavour'"
  exit 77
fi
if [[ -z "$PY" ]]; then
  hx_fail setup "no Python with h5py (experiments/find_python.sh)"
  hx_summary
  exit 1
fi
hx_sweeps "$data"/{scales,heads,cross,options}.ini
hx_check every_logged_number_as_before "$PY" "$data/checksums.py" check "$data/expected.txt" "${HX_FILES[@]}"
hx_summary
