add_test(NAME study.pipeline_on_small_files
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/study_smoke_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
# experiments/reproduce.sh --tiny end to end, and numbers of its summary recomputed from the files.
add_test(NAME study.reproduce_tiny
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/study_reproduce_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(study.reproduce_tiny PROPERTIES TIMEOUT 900 LABELS study)
