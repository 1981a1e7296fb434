# Script-level tests, run by ctest next to the GoogleTest cases. They drive the real `sandbox` binary and
# the Python scripts, the way a user does.
add_test(NAME plots.scripts_run_on_small_file COMMAND bash ${CMAKE_SOURCE_DIR}/tests/py/test_plots.sh)
