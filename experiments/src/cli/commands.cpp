#include "experiments/src/cli/commands.hpp"

namespace sbx::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> all = {
      {"gradcheck", "check every op's (and model's) gradient against central differences", run_gradcheck},
  };
  return all;
}

}  // namespace sbx::cli
