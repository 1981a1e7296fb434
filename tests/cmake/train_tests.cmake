# Script tests of training, the run-file layout and `sandbox grad`, included by tests/scripts.cmake.
#   train.cli_data_safety   tests/experiments/cli/train_cli_test.sh (also runs tests/experiments/cli/check_run_layout.py)
#   train.sweep_resume      tests/experiments/cli/sweep_resume_test.sh
#   train.grad_vs_numpy     tests/experiments/train/grad_vs_numpy.py, under the interpreter experiments/find_python.sh picks
add_test(NAME train.cli_data_safety
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/train_cli_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
add_test(NAME train.sweep_resume
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/sweep_resume_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
add_test(NAME train.grad_vs_numpy
         COMMAND bash -c "PY=$(\"$1/experiments/find_python.sh\") && exec \"$PY\" \"$1/tests/experiments/train/grad_vs_numpy.py\" \"$2\""
                 grad_vs_numpy ${PROJECT_SOURCE_DIR} $<TARGET_FILE:sandbox>)
set_tests_properties(train.cli_data_safety train.sweep_resume train.grad_vs_numpy PROPERTIES TIMEOUT 120)
# Runs identified by their whole configuration: stored config reproduces a run, the identity rule in
# train/sweep/merge, grids over any option, progress and --version (tests/experiments/cli/config_identity_test.sh).
add_test(NAME train.config_identity
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/config_identity_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(train.config_identity PROPERTIES TIMEOUT 300)
# One name per setting: d_model and d-model (and every option's two spellings) on every surface
# (tests/experiments/cli/setting_spellings_test.sh).
add_test(NAME cli.setting_spellings
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/setting_spellings_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(cli.setting_spellings PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)
# The language model on text: float32 training learns a small text, `sandbox sample` prints from the run
# (tests/experiments/cli/lm_test.sh).
add_test(NAME train.lm_text
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/lm_test.sh $<TARGET_FILE:sandbox> ${PROJECT_SOURCE_DIR})
set_tests_properties(train.lm_text PROPERTIES TIMEOUT 300)
