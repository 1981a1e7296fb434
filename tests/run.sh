#!/usr/bin/env bash
# Builds the sandbox and runs every test, twice: a Release build in build/, then the whole ctest suite again
# under AddressSanitizer + UndefinedBehaviorSanitizer with leak detection in build-asan/. On a fresh Debian or
# Ubuntu machine it first installs what is missing. CI runs it as `bash .ci/run` (CI=true).
#
# Usage: tests/run.sh                 (from anywhere)
#   SANDBOX_SKIP_SANITIZERS=1 tests/run.sh   skip the sanitizer pass (local use only: ignored when CI=true)
#   SANDBOX_ALLOW_NO_LEAK_CHECK=1            if LeakSanitizer cannot run here (it needs ptrace, which some
#                                            containers forbid), run the sanitizer pass without leak
#                                            detection instead of failing (a warning is printed)
#   SANDBOX_PROPERTY_SEED=N                  base seed of the property tests (tests/autodiff/test_gradcheck_random_shapes.cpp)
#   SANDBOX_ASAN_FUZZ_SEED=N                 the damaged-files fuzz's seed in the sanitizer pass (default random, printed)
#
# The sanitizer pass: -DSANDBOX_SANITIZE=ON, RelWithDebInfo with -O1 -g and without NDEBUG (so Eigen's and
# our own asserts are active), without -march=native (GCC 12's AVX-512 intrinsics trip -Werror=uninitialized
# at -O1/-O2). Every sanitizer report fails the run: the process aborts (abort_on_error for both, and
# -fno-sanitize-recover; a UBSan error would otherwise exit 1 like any failure), AddressSanitizer and
# LeakSanitizer reports are also written under build-asan/sanitizer-logs/ (which must be empty at the end),
# and UBSan reports (GCC's libubsan ignores log_path, they go to stderr) are searched for in ctest's log.
# The last two catch reports from processes whose exit status a test does not look at.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=$(nproc 2>/dev/null || echo 2)
started=$SECONDS

section() { printf '\n==> %s  [%s, %ds elapsed]\n' "$*" "$(date +%H:%M:%S)" $((SECONDS - started)); }
failures=()

section "install missing dependencies"
# scaleout: GNU parallel, Slurm and MUNGE, which the scale-out recipe tests (tests/experiments/cli/scaleout_*.sh) run.
"$root/experiments/install_deps.sh" all scaleout

# ---- Release ------------------------------------------------------------------------------------------
section "configure and build (Release) in build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"

section "ctest (Release)"
if ! ctest --test-dir build --output-on-failure -j"$jobs"; then
  failures+=("ctest (Release)")
fi

# ---- Sanitizers ---------------------------------------------------------------------------------------
run_sanitizers=1
if [[ "${SANDBOX_SKIP_SANITIZERS:-0}" == 1 ]]; then
  if [[ "${CI:-}" == true ]]; then
    echo "SANDBOX_SKIP_SANITIZERS=1 is ignored on CI (CI=true): the sanitizer pass always runs there"
  else
    run_sanitizers=0
  fi
fi

if ((run_sanitizers)); then
  section "configure and build (AddressSanitizer + UndefinedBehaviorSanitizer) in build-asan/"
  logs="$root/build-asan/sanitizer-logs"
  leak_check=1
  # Reports go to files as well as aborting the process (see above). Set before building: the build runs
  # unit_tests to discover its test cases.
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:log_path=$logs/asan"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:abort_on_error=1"
  cmake -S . -B build-asan -DSANDBOX_SANITIZE=ON -DSANDBOX_NATIVE=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g" >/dev/null
  rm -rf "$logs"
  mkdir -p "$logs"

  section "LeakSanitizer probe: can leaks be detected here?"
  probe_dir=$(mktemp -d "${TMPDIR:-/tmp}/lsan_probe.XXXXXX")
  cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' build-asan/CMakeCache.txt)
  printf '#include <cstdlib>\nint main() { void* volatile p = std::malloc(4242); p = nullptr; return p != nullptr; }\n' \
    >"$probe_dir/leak.cpp"
  "${cxx:-c++}" -g -fsanitize=address "$probe_dir/leak.cpp" -o "$probe_dir/leak"
  probe_rc=0
  ASAN_OPTIONS=detect_leaks=1:exitcode=23 "$probe_dir/leak" >"$probe_dir/out" 2>&1 || probe_rc=$?
  if ((probe_rc == 23)) && grep -q "detected memory leaks" "$probe_dir/out" && grep -q "4242 byte" "$probe_dir/out"; then
    echo "LeakSanitizer works: a deliberate 4242-byte leak was reported"
  else
    echo "!! LeakSanitizer CANNOT RUN in this environment (it needs ptrace; containers often forbid it)."
    echo "!! The probe (a program that leaks 4242 bytes) exited $probe_rc and printed:"
    sed 's/^/!!   /' "$probe_dir/out" | head -20
    if [[ "${SANDBOX_ALLOW_NO_LEAK_CHECK:-0}" == 1 ]]; then
      echo "!! SANDBOX_ALLOW_NO_LEAK_CHECK=1: continuing WITHOUT leak detection (ASan and UBSan still run)."
      leak_check=0
      export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$logs/asan"
    else
      echo "!! Failing: leaks would go unnoticed. Run where ptrace is allowed (e.g. docker --cap-add SYS_PTRACE),"
      echo "!! or set SANDBOX_ALLOW_NO_LEAK_CHECK=1 to run the sanitizer pass without leak detection."
      rm -rf "$probe_dir"
      exit 1
    fi
  fi
  rm -rf "$probe_dir"

  cmake --build build-asan -j"$jobs"

  # The fuzz test (robust.damaged_files) runs its 200 variants per input in the Release pass; under the
  # sanitizers every variant costs several times more, so this pass feeds it 50.
  export FUZZ_VARIANTS=${SANDBOX_ASAN_FUZZ_VARIANTS:-50}
  # Its seed is random here too (printed in the test's output), as in the Release pass: a damaged file must
  # be refused before HDF5 reads it, or HDF5 allocates or copies what the file claims, which the sanitizers
  # report even where Release survives. SANDBOX_ASAN_FUZZ_SEED=N replays one seed; the seeds that found
  # such files are kept as fixed cases (robust.damaged_fixed_cases, tests/data/damaged/).
  if [[ -n ${SANDBOX_ASAN_FUZZ_SEED:-} && $SANDBOX_ASAN_FUZZ_SEED != random ]]; then export FUZZ_SEED=$SANDBOX_ASAN_FUZZ_SEED; fi
  if ((leak_check)); then
    section "ctest (AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer)"
  else
    section "ctest (AddressSanitizer + UndefinedBehaviorSanitizer, leak detection OFF)"
  fi
  if ! ctest --test-dir build-asan --output-on-failure -j"$jobs"; then
    failures+=("ctest (sanitizers)")
  fi
  if compgen -G "$logs/*" >/dev/null; then
    reports=("$logs"/*)
    echo "!! ${#reports[@]} sanitizer report(s) written, one file per process; their summaries:"
    for f in "${reports[@]}"; do
      printf '   %s: %s\n' "${f#"$root"/}" "$(grep -m1 '^SUMMARY' "$f" || head -1 "$f")"
    done
    echo "!! the first report in full:"
    head -80 "${reports[0]}"
    failures+=("${#reports[@]} sanitizer report(s) in build-asan/sanitizer-logs/")
  else
    echo "no AddressSanitizer/LeakSanitizer reports"
  fi
  # Test output as ctest recorded it (stdout and stderr of every test).
  if grep -E -n ': runtime error: |ERROR: (AddressSanitizer|LeakSanitizer)' build-asan/Testing/Temporary/LastTest.log \
      >"$logs.grep" 2>/dev/null; then
    echo "!! sanitizer reports in the test output (build-asan/Testing/Temporary/LastTest.log):"
    head -20 "$logs.grep"
    failures+=("$(wc -l <"$logs.grep") sanitizer report line(s) in the ctest output")
  else
    echo "no UndefinedBehaviorSanitizer reports in the test output"
  fi
  rm -f "$logs.grep"
  ((leak_check)) || echo "!! WARNING: leak detection was OFF for this run (SANDBOX_ALLOW_NO_LEAK_CHECK=1)"
else
  section "sanitizer pass SKIPPED (SANDBOX_SKIP_SANITIZERS=1)"
fi

section "done"
if ((${#failures[@]} > 0)); then
  printf 'FAILED: %s\n' "${failures[@]}"
  printf 'tests/run.sh took %ds\n' $((SECONDS - started))
  exit 1
fi
printf 'all passed; tests/run.sh took %ds\n' $((SECONDS - started))
