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
         " = " + difference->ours +
         // --overwrite would destroy the stored run (in a sweep, every stored run of a clashing name): it is
         // named last, as what it does, and a name that keeps both runs first.
         " (keep both: give the runs another name, e.g. a --name template with {" + difference->key +
         "}, or another --out; --overwrite would replace the stored run)";
}

}  // namespace sbx
