add_test(NAME sweep.shards_merge_and_gradcheck
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/shard_merge_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
# Several [grid] blocks in one INI (experiments/examples/adam_vs_sgd.ini), their union run, `--dry-run`, and
# a clash between blocks (tests/experiments/cli/sweep_blocks_test.sh).
add_test(NAME sweep.grid_blocks
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/sweep_blocks_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(sweep.grid_blocks PROPERTIES TIMEOUT 180 SKIP_RETURN_CODE 77)
# `sweep --dry-run`'s estimated time: twice the steps about twice, a small real sweep close to its estimate,
# --model lm runs estimated too (tests/experiments/cli/sweep_estimate_test.sh).
add_test(NAME sweep.dry_run_estimate
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/sweep_estimate_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(sweep.dry_run_estimate PROPERTIES TIMEOUT 240)
