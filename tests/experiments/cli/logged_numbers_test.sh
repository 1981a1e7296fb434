#!/usr/bin/env bash
# Speed work must not change a single logged number: the sweeps of tests/data/logged_numbers/ scales.ini,
# heads.ini, cross.ini and options.ini (teacher, recall, sense, lookup; every scale mode; heads, causal, W^O,
# cross-attention; sgd/adamw, clipping, schedules, log-every > 1) are run with this build and every series
# and attribute of every run (except wall_seconds) is compared, through a checksum, to a baseline:
#   for g in scales heads cross options; do sandbox sweep --config tests/data/logged_numbers/$g.ini --out $g.h5 --jobs 1 --quiet; done
#   tests/data/logged_numbers/checksums.py make scales.h5 heads.h5 cross.h5 options.h5 > tests/data/logged_numbers/expected-NAME.txt
# with the "# flavour:" line (what this script prints when it skips) inserted as its second line.
# Two jobs here: the runs of a sweep share its gradient checks and batches, and no number may depend on it.
# The checksums hold only for the build flavour and CPU named on a baseline's "# flavour:" line (the
# compiler, -march=native and the build type choose the floating-point kernels), so there is one baseline
# per flavour, expected*.txt: expected.txt was made by the sandbox of commit 21b7e72 (before the speed
# work) on the CPU it names; each later one by the sandbox of the commit that added it, on its CPU, once
# logged_values_test.sh (the twin that runs everywhere, within a relative tolerance of the numbers of
# 21b7e72) passed on that CPU. With no baseline for this flavour the test says so and exits 77 (skipped).
# Usage: logged_numbers_test.sh SANDBOX_BINARY SOURCE_DIR [BUILD_FLAVOUR]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hx_init "$1" "$2"
data=$ROOT/tests/data/logged_numbers
cpu=$(grep -m1 '^flags' /proc/cpuinfo | sha256sum | cut -c1-12)
flavour="${3:-unknown} cpu-flags=$cpu"
baseline=
for f in "$data"/expected*.txt; do
  [[ "$(sed -n 's/^# flavour: //p' "$f")" == "$flavour" ]] && baseline=$f
done
if [[ -z "$baseline" ]]; then
  echo "SKIPPED: no baseline for this build, '$flavour'; the baselines are for:"
  sed -n 's/^# flavour: /  /p' "$data"/expected*.txt
  exit 77
fi
echo "baseline: ${baseline#"$ROOT"/}"
if [[ -z "$PY" ]]; then
  hx_fail setup "no Python with h5py (experiments/find_python.sh)"
  hx_summary
  exit 1
fi
hx_sweeps "$data"/{scales,heads,cross,options}.ini
hx_check every_logged_number_as_before "$PY" "$data/checksums.py" check "$baseline" "${HX_FILES[@]}"
hx_summary
