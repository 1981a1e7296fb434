#!/usr/bin/env bash
# Builds tests/consumer/ (a project outside the sandbox) against the sandbox and runs it: a 2-layer MLP from
# the engine's ops, gradient-checked and trained (mlp.cpp, autodiff/README.md's example), and a program that links
# sandbox::models (install mode only).
#
# Usage: consumer_test.sh install       BUILD_DIR SOURCE_DIR CXX [CXXFLAGS]
#          `cmake --install BUILD_DIR` into a temporary prefix (the build tree's libraries, nothing is
#          recompiled), then the consumer finds it with find_package(sandbox CONFIG)
#        consumer_test.sh subdirectory  BUILD_DIR SOURCE_DIR CXX [CXXFLAGS]
#          the consumer includes SOURCE_DIR with add_subdirectory() (compiles the engine and the models)
# CXXFLAGS are the consumer's compile and link flags (the sanitizer flags under build-asan/). The consumer
# is compiled without optimisation, to keep this test fast.
set -euo pipefail
mode=$1 build=$2 src=$3 cxx=$4 flags=${5:-}
fail() { echo "FAIL (consumer $mode): $*" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sandbox_consumer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# A copy of the consumer's sources, so that no path of the sandbox's tree is legitimately in its build.
cp -r "$src/tests/consumer" "$tmp/consumer"
configure=(-S "$tmp/consumer" -B "$tmp/build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=
           -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)
case $mode in
  install)
    cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; fail "cmake --install"; }
    # Only the prefix: the consumer must not see the sandbox's source or build tree.
    configure+=(-DCMAKE_PREFIX_PATH="$tmp/prefix")
    ;;
  subdirectory) configure+=(-DSANDBOX_SOURCE_DIR="$src") ;;
  *) fail "unknown mode '$mode' (install or subdirectory)" ;;
esac
cmake "${configure[@]}" >"$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log"; fail "configure"; }
# add_subdirectory() compiles the libraries: only the engine's (for mlp), to keep this test short.
targets=(mlp models_link)
[[ $mode == subdirectory ]] && targets=(mlp)
nice cmake --build "$tmp/build" -j2 --target "${targets[@]}" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "build"; }
if [[ $mode == install ]] && grep -q "$src/" "$tmp/build/compile_commands.json"; then
  fail "the consumer compiled with a path into the sandbox's source tree: $(grep -o "[^ \"]*$src/[^ \"]*" "$tmp/build/compile_commands.json" | head -1)"
fi
# The project's own flags stay its own: a consumer's compile lines carry neither.
for flag in -march=native -Werror; do
  if grep -q -- "$flag" "$tmp/build/compile_commands.json"; then
    fail "the consumer's compile line has $flag, which only the sandbox's own build should use"
  fi
done

"$tmp/build/mlp" >"$tmp/mlp.out" 2>&1 || { cat "$tmp/mlp.out"; fail "mlp exited non-zero"; }
cat "$tmp/mlp.out"
grep -q '^gradcheck passed' "$tmp/mlp.out" || fail "mlp printed no 'gradcheck passed'"
grep -q '^training loss ' "$tmp/mlp.out" || fail "mlp printed no training loss"
if [[ $mode == install ]]; then
  "$tmp/build/models_link" || fail "models_link exited non-zero"
fi
echo "PASS (consumer $mode)"
