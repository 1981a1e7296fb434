#include "experiments/src/cli/commands.hpp"

#include "git_commit.hpp"  // generated at build time: SANDBOX_GIT_COMMIT

namespace sbx::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> all = {
      {"train", "train one attention model on a toy task and log it to HDF5", run_train},
      {"sweep", "run a grid of training runs from an INI file into one HDF5 file", run_sweep},
      {"merge", "merge run files: sandbox merge OUT.h5 IN.h5...", run_merge},
      {"theory", "Monte Carlo of Var(q.k) and softmax saturation against d_k", run_theory},
      {"explain", "the seeds' worked examples, computed step by step", run_explain},
      {"gradcheck", "check every op's and model's gradient against central differences", run_gradcheck},
      {"grad", "loss and gradients of self-attention for parameters and data in a file", run_grad},
      {"bench", "time a training step against a hand-derived Eigen reference", run_bench},
  };
  return all;
}

std::string version_text() { return std::string("sandbox ") + SANDBOX_VERSION + " (git " + SANDBOX_GIT_COMMIT + ")"; }

}  // namespace sbx::cli
