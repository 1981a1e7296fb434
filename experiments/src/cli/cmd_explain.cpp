// Placeholder until `sandbox explain` lands.
#include "experiments/src/cli/commands.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::cli {

int run_explain(const Args&) { throw UserError("sandbox explain: not implemented yet"); }

}  // namespace sbx::cli
