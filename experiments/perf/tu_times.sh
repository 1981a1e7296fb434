#!/usr/bin/env bash
# Compiler launcher that records the CPU time of every compile: one line per translation unit,
# "user sys wall source", appended to $TU_TIMES_LOG. Used to find where the build's time goes:
#   cmake -S . -B build-tu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER_LAUNCHER=$PWD/experiments/perf/tu_times.sh
#   TU_TIMES_LOG=$PWD/tu.log CCACHE_DISABLE=1 cmake --build build-tu -j2 --target sandbox
#   sort -rn tu.log | head      # heaviest first (user seconds)
# User + system seconds depend less on the machine's load than wall time does.
set -u
log=${TU_TIMES_LOG:-/dev/null}
src=-
for arg in "$@"; do
  case $arg in *.cpp|*.cc|*.cxx) src=$arg ;; esac
done
tmp=$(mktemp)
/usr/bin/time -f '%U %S %e' -o "$tmp" "$@"
status=$?
printf '%s %s\n' "$(cat "$tmp")" "${src#"${TU_TIMES_SRC_PREFIX:-}"}" >> "$log"
rm -f "$tmp"
exit $status
