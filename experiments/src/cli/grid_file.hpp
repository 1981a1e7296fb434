#pragma once
// The grid of `sandbox sweep --config FILE.ini` (with --grid.KEY / --run.KEY overrides from `vm`), shared
// with `sandbox bench --breakdown --config FILE.ini`, which times the same runs.
#include <string>

#include "experiments/src/cli/options.hpp"
#include "experiments/src/train/sweep.hpp"

namespace sbx::cli {

// What the grid was built from, as every run of the sweep records it (io/layout.hpp: sweep_ini and
// sweep_overrides): the INI file's text as read, and the command line's overrides, one per line, as
// `--name=TEMPLATE`, then `--run.KEY=VALUE` and `--grid.KEY=VALUES` in the option table's order.
struct GridSource {
  std::string ini, overrides;
};

// `source`, when given, receives what the grid was built from.
SweepGrid build_grid(const std::string& config_file, const po::variables_map& vm, std::string name_template,
                     GridSource* source = nullptr);

}  // namespace sbx::cli
