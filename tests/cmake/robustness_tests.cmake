# Robustness script tests (nothing written is ever lost, nothing crashes), included by tests/scripts.cmake.
#   robust.concurrent_writers  tests/experiments/cli/concurrent_writers_test.sh: trains, a sweep, shards and merges into one
#                              file at once lose no run; waiting for the lock, --lock-timeout, a file held by h5py
add_test(NAME robust.concurrent_writers
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/concurrent_writers_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(robust.concurrent_writers PROPERTIES TIMEOUT 300)
# A write that cannot land loses no run (tests/experiments/cli/full_disk_test.sh, one case per test; a case
# this machine cannot stage, e.g. no permission to mount a tmpfs, exits 77 and is reported as skipped):
#   robust.full_disk            a full tmpfs: exit 2, one line, the old file unchanged, the run in the fallback file
#   robust.file_size_limit      the same under ulimit -f
#   robust.sweep_size_limit     a sweep whose save fails names the runs interrupted and never started
#   robust.read_only_directory  --out in a read-only directory is refused before training
#   robust.symlinked_out        a symlinked --out updates the link's target and keeps the link
foreach(case IN ITEMS "full_disk:disk_full" "file_size_limit:size_limit" "sweep_size_limit:sweep_size_limit"
                      "read_only_directory:read_only_dir"
                      "symlinked_out:symlinked_out")
  string(REPLACE ":" ";" case "${case}")
  list(GET case 0 test_name)
  list(GET case 1 script_case)
  add_test(NAME robust.${test_name}
           COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/full_disk_test.sh $<TARGET_FILE:sandbox>
                   ${PROJECT_SOURCE_DIR} ${script_case})
  set_tests_properties(robust.${test_name} PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)
endforeach()
#   robust.damaged_files       tests/experiments/cli/damaged_files_test.sh: damaged runs named, refused, skipped or redone; a
#                              fuzz of flipped bytes fed to merge, train, sweep and grad never crashes
add_test(NAME robust.damaged_files
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/damaged_files_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(robust.damaged_files PROPERTIES TIMEOUT 600)
#   robust.damaged_fixed_cases tests/experiments/cli/damaged_fixed_cases_test.sh: damaged files the fuzz once found
#                              (tests/data/damaged/) refused before HDF5 reads them, naming the damage
add_test(NAME robust.damaged_fixed_cases
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/damaged_fixed_cases_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(robust.damaged_fixed_cases PROPERTIES TIMEOUT 120)
#   robust.run_checksum        tests/experiments/cli/run_checksum_test.sh: one byte changed in a run's config, an attribute, a
#                              parameter or a series fails its checksum: merge, train --out, a sweep resume and the
#                              Python reader name the run; runs of older files (no checksum) are accepted unchecked
add_test(NAME robust.run_checksum
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/run_checksum_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(robust.run_checksum PROPERTIES TIMEOUT 300)
#   robust.sigint_sweep        tests/experiments/cli/sigint_sweep_test.sh: SIGINT at any instant of a sweep (from the first
#                              library initialiser on) exits 130, what finished saved and equal to an uninterrupted run
add_test(NAME robust.sigint_sweep
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/sigint_sweep_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(robust.sigint_sweep PROPERTIES TIMEOUT 300)
#   robust.final_save          tests/experiments/cli/final_save_test.sh: a save that crashes in its child (a damaged
#                              --out) keeps the trained runs in the fallback file: train, interrupted train, sweep
add_test(NAME robust.final_save
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/final_save_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
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
