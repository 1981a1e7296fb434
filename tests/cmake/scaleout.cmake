# The scale-out recipes (experiments/scaleout/, linked from experiments/README.md) run for real, included by tests/scripts.cmake. Both
# shard a 6-run grid, merge it and compare it bit for bit with the grid swept at once; both check that
# experiments/README.md links their scripts. Exit 77 (one line "SKIPPED: ...") is a skip: a daemon that cannot start
# here, or (outside CI) a tool that is not installed; `experiments/install_deps.sh scaleout` installs them.
#   scaleout.parallel   tests/experiments/cli/scaleout_parallel_test.sh: experiments/scaleout/parallel.sh with GNU parallel
#   scaleout.slurm      tests/experiments/cli/scaleout_slurm_test.sh: experiments/scaleout/slurm_submit.sh (job array and
#                       merge job) on a single-node Slurm the test starts and stops (munged, slurmctld, slurmd)
add_test(NAME scaleout.parallel
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/scaleout_parallel_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
add_test(NAME scaleout.slurm
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/scaleout_slurm_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(scaleout.parallel scaleout.slurm PROPERTIES LABELS scaleout TIMEOUT 180 SKIP_RETURN_CODE 77)
