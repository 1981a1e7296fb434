#pragma once
// A problem with what the user asked for or gave us (a bad option, an unreadable file, a run name that
// already exists). main() turns it into one line on stderr and exit code 2; nothing else may be printed.
#include <stdexcept>
#include <string>

namespace sbx {

struct UserError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace sbx
