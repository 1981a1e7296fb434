// Placeholder until `sandbox bench` lands.
#include "experiments/src/cli/commands.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::cli {

int run_bench(const Args&) { throw UserError("sandbox bench: not implemented yet"); }

}  // namespace sbx::cli
