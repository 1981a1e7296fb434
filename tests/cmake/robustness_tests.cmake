# Robustness script tests (issue 12), included by tests/scripts.cmake.
#   robust.concurrent_writers  tests/cli/concurrent_writers_test.sh: trains, a sweep, shards and merges into one
#                              file at once lose no run; waiting for the lock, --lock-timeout, a file held by h5py
add_test(NAME robust.concurrent_writers
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/cli/concurrent_writers_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(robust.concurrent_writers PROPERTIES TIMEOUT 300)
#   robust.full_disk           tests/cli/full_disk_test.sh: a full tmpfs and ulimit -f: exit 2, one line, the old file
#                              unchanged, the run in the fallback file
add_test(NAME robust.full_disk
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/cli/full_disk_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(robust.full_disk PROPERTIES TIMEOUT 120)
#   robust.damaged_files       tests/cli/damaged_files_test.sh: damaged runs named, refused, skipped or redone; a
#                              fuzz of flipped bytes fed to merge, train, sweep and grad never crashes
add_test(NAME robust.damaged_files
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/cli/damaged_files_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(robust.damaged_files PROPERTIES TIMEOUT 600)
#   robust.sigint_sweep        tests/cli/sigint_sweep_test.sh: SIGINT at any instant of a sweep (from the first
#                              library initialiser on) exits 130, what finished saved and equal to an uninterrupted run
add_test(NAME robust.sigint_sweep
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/cli/sigint_sweep_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(robust.sigint_sweep PROPERTIES TIMEOUT 300)
#   robust.final_save          tests/cli/robust_final_save_test.sh: a save that crashes in its child (a damaged
#                              --out) keeps the trained runs in the fallback file: train, interrupted train, sweep
add_test(NAME robust.final_save
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/cli/robust_final_save_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(robust.final_save PROPERTIES TIMEOUT 120)
#   robust.process_edges       tests/experiments/cli/process_edges_test.sh: `| head -n 1` costs no run, rewrites keep
#                              the file's permissions, kill -9 and SIGINT on merge change nothing, --lock-timeout checked
add_test(NAME robust.process_edges
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/process_edges_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(robust.process_edges PROPERTIES TIMEOUT 180)
#   robust.claimed_sizes       tests/experiments/cli/claimed_sizes_test.sh: damaged extents refused by merge in under
#                              100 MB, long grid axes parsed in n log n, grid size and --eval-batches in the memory limit
add_test(NAME robust.claimed_sizes
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/claimed_sizes_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(robust.claimed_sizes PROPERTIES TIMEOUT 180)
