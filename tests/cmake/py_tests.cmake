# Tests of the Python package experiments/sqrtdk (tests/experiments/sqrtdk), under the interpreter
# experiments/find_python.sh picks, with the package imported from the checkout (PYTHONPATH):
#   py.reader   test_reader.py: loading, --where filters, the table and its CSV export, `from sqrtdk import load`
#   py.layout   test_layout.py: results/README.md's layout table, the reader's and the checker's names
#               agree with `sandbox layout` (io/layout.hpp); a sweep records its grid, merge keeps it
#   py.plot     test_plot.py: the general plot command on a fixture (diverged runs three ways, a 1e300
#               spike) and on a real lr x optimizer sweep whose SGD runs blow up (stopped and recorded
#               diverged by the sandbox; and, with --diverge-factor 0, recorded complete at 1e30 and more)
#   py.style    test_style.py: a wrapped suptitle is drawn clear of the panels and their titles (style.save)
#   py.damaged_files  test_damaged_files.py: 320 random damaged variants of a run file (seed printed;
#               SQRTDK_FUZZ_SEED=N repeats one) each read normally or refused with one line, never a
#               crash, hang or foreign exception; a file claiming a 100 GB dataset is refused in < 100 MB
add_test(NAME py.reader
         COMMAND bash -c "PY=$(\"$1/experiments/find_python.sh\") && PYTHONPATH=\"$1/experiments\" exec \"$PY\" \"$1/tests/experiments/sqrtdk/test_reader.py\""
                 reader ${PROJECT_SOURCE_DIR})
set_tests_properties(py.reader PROPERTIES TIMEOUT 120)
add_test(NAME py.layout
         COMMAND bash -c "PY=$(\"$1/experiments/find_python.sh\") && PYTHONPATH=\"$1/experiments:$1/tests/experiments/cli\" exec \"$PY\" \"$1/tests/experiments/sqrtdk/test_layout.py\" \"$2\""
                 layout ${PROJECT_SOURCE_DIR} $<TARGET_FILE:sandbox>)
set_tests_properties(py.layout PROPERTIES TIMEOUT 120)
add_test(NAME py.damaged_files
         COMMAND bash -c "PY=$(\"$1/experiments/find_python.sh\") && PYTHONPATH=\"$1/experiments\" exec \"$PY\" \"$1/tests/experiments/sqrtdk/test_damaged_files.py\" \"$2\""
                 damaged_files ${PROJECT_SOURCE_DIR} $<TARGET_FILE:sandbox>)
set_tests_properties(py.damaged_files PROPERTIES TIMEOUT 240)
add_test(NAME py.plot
         COMMAND bash -c "PY=$(\"$1/experiments/find_python.sh\") && PYTHONPATH=\"$1/experiments\" exec \"$PY\" \"$1/tests/experiments/sqrtdk/test_plot.py\" \"$2\""
                 plot ${PROJECT_SOURCE_DIR} $<TARGET_FILE:sandbox>)
set_tests_properties(py.plot PROPERTIES TIMEOUT 180)
add_test(NAME py.style
         COMMAND bash -c "PY=$(\"$1/experiments/find_python.sh\") && PYTHONPATH=\"$1/experiments\" exec \"$PY\" \"$1/tests/experiments/sqrtdk/test_style.py\""
                 style ${PROJECT_SOURCE_DIR})
set_tests_properties(py.style PROPERTIES TIMEOUT 120)
