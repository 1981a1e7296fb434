#!/usr/bin/env bash
# autodiff/README.md's "Using the engine from C++" example is tests/consumer/mlp.cpp, word for word: the code that
# consumer.find_package compiles and runs. Usage: readme_example_test.sh SOURCE_DIR
set -euo pipefail
src=$1
# The first ```cpp block after the heading.
example=$(awk '/^## Using the engine from C\+\+/ { in_section = 1 }
               in_section && /^```cpp$/ { in_block = 1; next }
               in_block && /^```$/ { exit }
               in_block { print }' "$src/autodiff/README.md")
[[ -n "$example" ]] || { echo "FAIL: autodiff/README.md has no \`\`\`cpp block under '## Using the engine from C++'"; exit 1; }
if ! diff <(printf '%s\n' "$example") "$src/tests/consumer/mlp.cpp"; then
  echo "FAIL: autodiff/README.md's example differs from tests/consumer/mlp.cpp (diff above: < autodiff/README.md, > mlp.cpp)"
  exit 1
fi
echo "PASS: autodiff/README.md's example is tests/consumer/mlp.cpp ($(wc -l <"$src/tests/consumer/mlp.cpp") lines)"
