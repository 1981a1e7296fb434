# The documentation, included by tests/scripts.cmake:
#   docs.readme_links   tests/docs/readme_links.py: every relative link and image of every README.md names a
#                       file or folder of the repository, and every heading anchor a heading of that file
add_test(NAME docs.readme_links
         COMMAND bash -c "PY=$(\"$1/experiments/find_python.sh\") && exec \"$PY\" \"$1/tests/docs/readme_links.py\" \"$1\""
                 readme_links ${PROJECT_SOURCE_DIR})
set_tests_properties(docs.readme_links PROPERTIES TIMEOUT 60)
