add_test(NAME sweep.shards_merge_and_gradcheck
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/shard_merge_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
