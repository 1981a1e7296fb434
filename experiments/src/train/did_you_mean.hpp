#pragma once
// "did you mean ...?" for a mistyped option or key: the known names closest to what was typed.
#include <string>
#include <vector>

namespace sbx {

// " (did you mean 'optimizer'?)" with the names of `known` within a small edit distance of `word` (at
// most two, the closest first; '-' and '_' count as the same), or "" when none is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& known);

}  // namespace sbx
