#pragma once
// Lists of registered names as the CLI's messages show them.
#include <string>
#include <vector>

namespace models {

// "a", "a or b", "a, b or c".
inline std::string join_choices(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

}  // namespace models
