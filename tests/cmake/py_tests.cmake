# Tests of the Python run-file reader experiments/sandbox_runs.py, under the interpreter
# experiments/find_python.sh picks:
#   py.sandbox_runs   tests/py/test_sandbox_runs.py: loading, --where filters, the table and its CSV export
#   py.layout         tests/py/test_layout.py: the README's layout table, the reader's and the checker's names
#                     agree with `sandbox layout` (io/layout.hpp); a sweep records its grid, merge keeps it
add_test(NAME py.sandbox_runs
         COMMAND bash -c "PY=$(\"$1/experiments/find_python.sh\") && exec \"$PY\" \"$1/tests/py/test_sandbox_runs.py\""
                 sandbox_runs ${PROJECT_SOURCE_DIR})
set_tests_properties(py.sandbox_runs PROPERTIES TIMEOUT 120)
add_test(NAME py.layout
         COMMAND bash -c "PY=$(\"$1/experiments/find_python.sh\") && exec \"$PY\" \"$1/tests/py/test_layout.py\" \"$2\""
                 layout ${PROJECT_SOURCE_DIR} $<TARGET_FILE:sandbox>)
set_tests_properties(py.layout PROPERTIES TIMEOUT 120)
