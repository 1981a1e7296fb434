# Script-level tests, run by ctest next to the GoogleTest cases. They drive the real `sandbox` binary and
# the Python scripts, the way a user does.
add_test(NAME plots.scripts_run_on_small_file COMMAND bash ${CMAKE_SOURCE_DIR}/tests/py/test_plots.sh)

# Each group of script tests registers itself from a file of its own under tests/cmake/.
file(GLOB SANDBOX_SCRIPT_TEST_FILES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/cmake/*.cmake)
foreach(test_file IN LISTS SANDBOX_SCRIPT_TEST_FILES)
  include(${test_file})
endforeach()
