# Projects outside the sandbox use its engine and models (tests/consumer/consumer_test.sh):
#   consumer.find_package   cmake --install of this build tree into a temporary prefix, then the consumer
#                           finds it with find_package(sandbox CONFIG)
#   consumer.subdirectory   the consumer includes the sandbox with add_subdirectory()
# The consumer is compiled with this build's compiler, plus the sanitizer flags when SANDBOX_SANITIZE is on.
set(sandbox_consumer_flags "")
if(SANDBOX_SANITIZE)
  set(sandbox_consumer_flags "-fsanitize=address,undefined -fno-sanitize-recover=all")
endif()
add_test(NAME consumer.find_package
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/consumer/consumer_test.sh install ${PROJECT_BINARY_DIR}
                 ${PROJECT_SOURCE_DIR} ${CMAKE_CXX_COMPILER} "${sandbox_consumer_flags}")
add_test(NAME consumer.subdirectory
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/consumer/consumer_test.sh subdirectory ${PROJECT_BINARY_DIR}
                 ${PROJECT_SOURCE_DIR} ${CMAKE_CXX_COMPILER} "${sandbox_consumer_flags}")
set_tests_properties(consumer.find_package consumer.subdirectory PROPERTIES TIMEOUT 600)
#   consumer.readme_example autodiff/README.md's C++ example is tests/consumer/mlp.cpp word for word
add_test(NAME consumer.readme_example
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/consumer/readme_example_test.sh ${PROJECT_SOURCE_DIR})
