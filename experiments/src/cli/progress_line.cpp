#include "experiments/src/cli/progress_line.hpp"

#include <cmath>

namespace sbx::cli {

void ProgressLine::update(const std::string& text, bool force) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (printed_ && !force && std::chrono::duration<double>(now - last_).count() < interval_) return;
  last_ = now;
  if (terminal_) {
    // Pad with spaces over the rest of a longer previous line.
    std::fprintf(stdout, "\r%s%s", text.c_str(), std::string(width_ > text.size() ? width_ - text.size() : 0, ' ').c_str());
    width_ = text.size();
  } else {
    std::fprintf(stdout, "%s\n", text.c_str());
  }
  std::fflush(stdout);
  printed_ = true;
}

double ProgressLine::seconds_since_print() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - last_).count();
}

void ProgressLine::finish() {
  if (enabled_ && terminal_ && printed_) std::fprintf(stdout, "\n");
  std::fflush(stdout);
  printed_ = false;
  width_ = 0;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  char text[32];
  if (s < 60) std::snprintf(text, sizeof text, "%lds", s);
  else if (s < 3600) std::snprintf(text, sizeof text, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(text, sizeof text, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  return text;
}

}  // namespace sbx::cli
