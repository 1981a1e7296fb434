add_test(NAME study.pipeline_on_small_files
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/cli/study_smoke_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
