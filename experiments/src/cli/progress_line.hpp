#pragma once
// A progress line: on a terminal one line rewritten in place (\r) at most five times a second, elsewhere a
// plain line at most once a second, so that logs stay readable.
#include <chrono>
#include <cstdio>
#include <string>

namespace sbx::cli {

class ProgressLine {
 public:
  ProgressLine(bool enabled, bool terminal)
      : enabled_(enabled), terminal_(terminal), interval_(terminal ? 0.2 : 1.0), last_(std::chrono::steady_clock::now()) {}

  // Prints `text` if enough time has passed since the last update (or `force`).
  void update(const std::string& text, bool force = false);
  // Ends the line on a terminal (so that what follows starts on a line of its own).
  void finish();
  bool terminal() const { return terminal_; }
  // Seconds since the last line was printed (or since construction).
  double seconds_since_print() const;

 private:
  bool enabled_, terminal_;
  double interval_;
  bool printed_ = false;
  size_t width_ = 0;
  std::chrono::steady_clock::time_point last_;
};

// "12s", "3m05s", "1h02m"
std::string format_duration(double seconds);

}  // namespace sbx::cli
