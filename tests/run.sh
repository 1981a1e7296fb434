#!/usr/bin/env bash
# Builds the sandbox and runs every test. On a fresh Debian or Ubuntu machine it first installs what is
# missing. Usage: tests/run.sh            (from anywhere; build trees go to build/ and build-asan/)
#   SANDBOX_SKIP_SANITIZERS=1 tests/run.sh   skips the AddressSanitizer/UBSan pass
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=$(nproc 2>/dev/null || echo 2)

"$root/experiments/install_deps.sh" all

echo "==> configure and build (Release) in build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"

echo "==> ctest (Release)"
ctest --test-dir build --output-on-failure -j"$jobs"
