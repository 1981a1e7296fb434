#include "experiments/src/train/run_identity.hpp"

#include "experiments/src/train/option_table.hpp"

namespace sbx {

std::optional<std::string> identity_conflict(const std::string& file, const io::StoredRun& stored,
                                             const std::string& config) {
  const std::string head = file + ": run '" + stored.name + "' is already in the file";
  if (stored.config.empty())
    return head + " without a stored configuration (written by an older sandbox); use --overwrite to replace it";
  const auto difference = first_difference(config, stored.config);
  if (!difference) return std::nullopt;
  return head + " with " + difference->key + " = " + difference->theirs + ", but this run has " + difference->key +
         " = " + difference->ours + " (use --overwrite to replace it, or another --name)";
}

}  // namespace sbx
