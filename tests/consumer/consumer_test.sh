#!/usr/bin/env bash
# Builds tests/consumer/ (a project outside the sandbox) against the sandbox and runs it: a 2-layer MLP from
# the engine's ops, gradient-checked and trained (mlp.cpp, autodiff/README.md's example), and, in install mode
# only, a program that links sandbox::models and one that logs a model of its own with sandbox::io's run writer
# (own_model_runs.cpp), whose file the Python reader reads back and the plot command draws.
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
targets=(mlp models_link own_model_runs)
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
  # A model of its own, logged with sandbox::io, read back by the Python reader and drawn by the plot command.
  "$tmp/build/own_model_runs" "$tmp/own.h5" || fail "own_model_runs exited non-zero"
  PY=$("$src/experiments/find_python.sh") || fail "no Python with h5py and matplotlib (experiments/find_python.sh)"
  PYTHONPATH="$src/experiments" "$PY" - "$tmp/own.h5" <<'PYEOF' || fail "the Python reader did not read the runs back"
import sys
from sqrtdk import load, load_runs
runs = load_runs(sys.argv[1])
assert len(runs) == 6, runs
assert sorted({r["optimizer"] for r in runs}) == ["adam", "sgd"], [r.attrs for r in runs]
for r in runs:
    assert len(r.series["loss"]) == len(r.series["step"]) > 0, r
    assert r["status"] in ("complete", "diverged"), r.attrs
adam = [r for r in runs if r["optimizer"] == "adam" and abs(r["lr"] - 0.03) < 1e-12][0]
assert adam.last("loss") < adam.series["loss"][0], "Adam at lr 0.03 did not lower the loss"
table = load(sys.argv[1], optimizer="sgd")
assert len(table) == 3 and set(table["optimizer"]) == {"sgd"}, table
print("read back:", ", ".join(f'{r.name} {r["status"]} loss {r.last("loss"):.3g}' for r in runs))
PYEOF
  PYTHONPATH="$src/experiments" "$PY" -m sqrtdk plot "$tmp/own.h5" --y final_loss --x lr --color optimizer \
    --out "$tmp/own_lr.png" || fail "the plot command could not draw the runs"
  [[ -s "$tmp/own_lr.png" ]] || fail "the plot command wrote no figure"
fi
echo "PASS (consumer $mode)"
