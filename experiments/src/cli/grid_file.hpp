#pragma once
// The grid of `sandbox sweep --config FILE.ini` (with --grid.KEY / --run.KEY overrides from `vm`), shared
// with `sandbox bench --breakdown --config FILE.ini`, which times the same runs.
#include <string>

#include "experiments/src/cli/options.hpp"
#include "experiments/src/train/sweep.hpp"

namespace sbx::cli {

SweepGrid build_grid(const std::string& config_file, const po::variables_map& vm, std::string name_template);

}  // namespace sbx::cli
