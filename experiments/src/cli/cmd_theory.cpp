// Placeholder until `sandbox theory` lands.
#include "experiments/src/cli/commands.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::cli {

int run_theory(const Args&) { throw UserError("sandbox theory: not implemented yet"); }

}  // namespace sbx::cli
