// Placeholder until `sandbox merge` lands.
#include "experiments/src/cli/commands.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::cli {

int run_merge(const Args&) { throw UserError("sandbox merge: not implemented yet"); }

}  // namespace sbx::cli
