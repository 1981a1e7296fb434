#pragma once
// The command-line and INI side of the option table (experiments/src/train/option_table.hpp): one
// --<key> option per row for `sandbox train`, one --run.<key> and --grid.<key> per row for `sandbox
// sweep`, and applying INI entries and command-line values to a RunConfig.
#include <string>
#include <vector>

#include "experiments/src/cli/ini_file.hpp"
#include "experiments/src/cli/options.hpp"
#include "experiments/src/train/option_table.hpp"

namespace sbx::cli {

// One --<prefix><key> per table row, with its default in the help text. Flags may be given without a
// value (--causal means --causal=true). Also --<prefix>no-gradcheck, a short form of gradcheck = false.
void add_run_options(po::options_description& options, const std::string& prefix = "");

// The command-line values of the table's options (those given), as key → text, in table order.
std::vector<std::pair<std::string, std::string>> given_run_options(const po::variables_map& vm,
                                                                   const std::string& prefix = "");

// Whether a key is the short form no-gradcheck (either spelling).
bool is_no_gradcheck(const std::string& key);

// Applies key = value pairs to a configuration; a key in any spelling of find_run_option(), an unknown
// one refused with the closest names. `where` names their origin for messages ("" for the command line,
// whose messages name the option themselves).
void apply_run_option(RunConfig& config, const std::string& key, const std::string& value, const std::string& where);

}  // namespace sbx::cli
