#include "experiments/src/train/did_you_mean.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

namespace sbx {
namespace {

// Lower case, '_' as '-': d_model and D-Model are spelled alike.
std::string folded(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string did_you_mean(const std::string& word, const std::vector<std::string>& known) {
  const std::string typed = folded(word);
  // A third of the word's length, at least one and at most three edits: "optimiser", "seqlen", "lrr".
  const size_t limit = std::clamp<size_t>(typed.size() / 3, 1, 3);
  std::vector<std::pair<size_t, std::string>> close;
  for (const std::string& name : known) {
    const size_t d = edit_distance(typed, folded(name));
    if (d <= limit && std::none_of(close.begin(), close.end(), [&](const auto& c) { return c.second == name; }))
      close.emplace_back(d, name);
  }
  if (close.empty()) return "";
  std::stable_sort(close.begin(), close.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  std::string text = " (did you mean '" + close[0].second + "'";
  if (close.size() > 1) text += " or '" + close[1].second + "'";
  return text + "?)";
}

}  // namespace sbx
