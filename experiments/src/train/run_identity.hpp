#pragma once
// The identity rule: a run is identified by its whole configuration, never by its name alone. A name
// already in a file may be reused only by the same configuration; anything else is refused with the
// first option that differs, unless the user asks to overwrite.
#include <optional>
#include <string>

#include "experiments/src/io/run_file.hpp"

namespace sbx {

// Why `config` (canonical text) may not be stored as run `name` next to `stored`: nullopt when the
// configurations are the same, else a one-line message for `file` naming the first differing option.
std::optional<std::string> identity_conflict(const std::string& file, const io::StoredRun& stored,
                                             const std::string& config);

}  // namespace sbx
