# Hardening script tests, included by tests/scripts.cmake. They drive the real `sandbox` binary of this build
# tree, so under build-asan/ (tests/run.sh) they run it with AddressSanitizer + UBSan + LeakSanitizer.
#   cli.bad_input_matrix     tests/experiments/cli/bad_input_test.sh: every subcommand refuses bad input with exit 2, one
#                            stderr line naming the problem, and no file created or changed
#   cli.numerical_extremes   tests/experiments/cli/extremes_test.sh: unscaled d_k = 4096 stays finite; lr 1e3 diverges cleanly
# The property tests (tests/autodiff/test_gradcheck_random_shapes.cpp) are GoogleTest cases of unit_tests.
add_test(NAME cli.bad_input_matrix
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/bad_input_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
add_test(NAME cli.numerical_extremes
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/extremes_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(cli.bad_input_matrix cli.numerical_extremes PROPERTIES TIMEOUT 900)
