#pragma once
// The options that define one run, shared by `sandbox train` and the sweep's fixed settings.
#include "experiments/src/cli/options.hpp"
#include "experiments/src/train/run_config.hpp"

namespace sbx::cli {

// Adds --task, --d-model, --dk, --dv, --d-out, --seq-len, --batch, --steps, --scale, --optimizer, --lr,
// --seed, --causal, --log-every, --no-gradcheck and --init-std, bound to `config`'s fields.
// With a prefix ("run."), the names are those of an INI section ([run] d-model = 64).
void add_run_options(po::options_description& options, RunConfig& config, const std::string& prefix = "");
// After parsing: the switches that are not plain values.
void finish_run_options(const po::variables_map& vm, RunConfig& config, const std::string& prefix = "");

}  // namespace sbx::cli
