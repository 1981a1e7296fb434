# Multi-head and encoder–decoder runs from the command line.
#   cli.heads_cross   tests/experiments/cli/heads_cross_test.sh: models/README.md's example commands run and record heads,
#                     context_len, the lookup task's attributes and the new series; bad --heads/--dk auto/
#                     --context-len/--model settings exit 2 with one line and create no file.
add_test(NAME cli.heads_cross
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/heads_cross_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(cli.heads_cross PROPERTIES TIMEOUT 300)
