# A task registered from the test tree alone (tests/models/toy_task.cpp) trains through `sandbox train` and
# `sandbox sweep`. sandbox_with_toy_task is `sandbox` (the same main and libraries) plus that one file: the
# file is compiled into the executable itself, so its static registration cannot be dropped by the linker.
#   registry.toy_task   tests/experiments/cli/toy_task_test.sh
add_executable(sandbox_with_toy_task ${PROJECT_SOURCE_DIR}/experiments/src/main.cpp
                                     ${PROJECT_SOURCE_DIR}/tests/models/toy_task.cpp)
target_link_libraries(sandbox_with_toy_task PRIVATE sandbox_cli sandbox_alloc_counter ${SANDBOX_OWN_FLAGS})
target_compile_definitions(sandbox_with_toy_task PRIVATE SANDBOX_TOY_TASK)
add_test(NAME registry.toy_task
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/experiments/cli/toy_task_test.sh
                 $<TARGET_FILE:sandbox_with_toy_task> $<TARGET_FILE:sandbox>)
set_tests_properties(registry.toy_task PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)

# The registries' own cases (tests/models/test_registries.cpp) join unit_tests, unless a glob of the test
# tree already put them there.
get_target_property(sandbox_unit_test_sources unit_tests SOURCES)
set(sandbox_registry_test ${PROJECT_SOURCE_DIR}/tests/models/test_registries.cpp)
if(NOT sandbox_registry_test IN_LIST sandbox_unit_test_sources)
  target_sources(unit_tests PRIVATE ${sandbox_registry_test})
endif()
