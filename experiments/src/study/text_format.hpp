#pragma once
// printf-style formatting into a std::string, for the study's step-by-step printouts.
#include <cstdio>
#include <string>

namespace sbx::study {

template <typename... Args>
std::string format(const char* fmt, Args... args) {
  const int size = std::snprintf(nullptr, 0, fmt, args...);
  if (size <= 0) return {};
  std::string text(static_cast<size_t>(size) + 1, '\0');
  std::snprintf(text.data(), text.size(), fmt, args...);
  text.pop_back();
  return text;
}

}  // namespace sbx::study
