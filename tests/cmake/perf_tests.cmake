# The speed work's guard: every logged number equal, bit for bit, to the sandbox before it.
add_test(NAME perf.logged_numbers_unchanged
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/cli/logged_numbers_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
