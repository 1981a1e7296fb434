# The peers script (experiments/perf/peers.py), run only where a Python with PyTorch is at hand:
#   peers.quick_run_matches_sandbox  tests/experiments/perf/peers_test.sh: `peers.py --quick` prints its
#   table with the machine and the load, refuses bad input, and its PyTorch/JAX steps give the sandbox run's
#   losses, gradient norms and weights. The Python: $SANDBOX_PEERS_PYTHON, else /work/venv-peers/bin/python;
#   without torch there, skipped (exit 77).
add_test(NAME peers.quick_run_matches_sandbox
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/perf/peers_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(peers.quick_run_matches_sandbox PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
