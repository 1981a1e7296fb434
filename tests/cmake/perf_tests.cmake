# Work meant to leave the numbers alone (speed work, refactoring) must not change a logged number.
# perf.logged_numbers_unchanged: every logged number equal, bit for bit, to stored checksums. They hold for one
# build flavour on one kind of CPU (-march=native and the compiler choose the floating-point kernels);
# elsewhere the test reports itself skipped (exit 77), never passed.
add_test(NAME perf.logged_numbers_unchanged
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/logged_numbers_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR}
                 "${CMAKE_BUILD_TYPE} native=${SANDBOX_NATIVE} sanitize=${SANDBOX_SANITIZE} ${CMAKE_CXX_COMPILER_ID}-${CMAKE_CXX_COMPILER_VERSION}")
set_tests_properties(perf.logged_numbers_unchanged PROPERTIES SKIP_RETURN_CODE 77)
# perf.logged_numbers_within_tolerance, its twin on every CPU and build: every logged value of a few short runs
# within a relative tolerance of tests/data/logged_numbers/values.txt (values.py there says why that one).
add_test(NAME perf.logged_numbers_within_tolerance
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/logged_values_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(perf.logged_numbers_within_tolerance PROPERTIES TIMEOUT 120)
# Threads inside one run (`train --threads`): 1, 2 and 3 threads log the same bits, on every build.
add_test(NAME perf.train_threads_same_bits
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/train_threads_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
