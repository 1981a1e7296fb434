#!/usr/bin/env bash
# Regenerates values.txt, the reference of the tolerance twin (ctest: perf.logged_numbers_within_tolerance),
# from the sandbox binary given: runs the sweeps values_*.ini and stores every logged value of their runs.
# Run it only when a change is meant to move logged numbers (say which and why in the commit), e.g.
#   cmake --build build --target sandbox && tests/data/logged_numbers/make_values.sh build/sandbox
# Any build flavour will do: the twin allows what another floating-point kernel moves a number by.
set -euo pipefail
sandbox=${1:?usage: make_values.sh SANDBOX_BINARY}
data=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$data/../../.." && pwd)
py=$("$root/experiments/find_python.sh")
scratch=$(mktemp -d "${TMPDIR:-/tmp}/make_values.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
for g in self cross; do
  "$sandbox" sweep --config "$data/values_$g.ini" --out "$scratch/values_$g.h5" --jobs 1 --quiet
done
{
  echo "# Every logged value of the runs of tests/data/logged_numbers/values_*.ini (values.py explains the format)."
  echo "# Made by tests/data/logged_numbers/make_values.sh with: $("$sandbox" --version 2>/dev/null | head -1)"
  "$py" "$data/values.py" make "$scratch/values_self.h5" "$scratch/values_cross.h5"
} >"$data/values.txt.new"
mv "$data/values.txt.new" "$data/values.txt"
echo "wrote $data/values.txt ($(grep -vc '^#' "$data/values.txt") items)"
