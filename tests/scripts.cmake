# Script-level tests, run by ctest next to the GoogleTest cases. They drive the real `sandbox` binary and
# the Python scripts, the way a user does. Included by CMakeLists.txt when the tests are built.
add_test(NAME plots.scripts_run_on_small_file COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/sqrtdk/test_plots.sh)

# Each group of script tests registers itself from a file of its own under tests/cmake/.
file(GLOB SANDBOX_SCRIPT_TEST_FILES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/cmake/*.cmake)
foreach(test_file IN LISTS SANDBOX_SCRIPT_TEST_FILES)
  include(${test_file})
endforeach()
