#include "experiments/src/cli/run_options.hpp"

#include "experiments/src/user_error.hpp"

namespace sbx::cli {

void add_run_options(po::options_description& options, const std::string& prefix) {
  const RunConfig defaults;
  for (const RunOption& o : run_options()) {
    const std::string name = prefix + o.key;
    const std::string help = o.help + " (default: " + option_text(defaults, o) + ")";
    const bool flag = std::holds_alternative<bool RunConfig::*>(o.field);
    if (flag) options.add_options()(name.c_str(), po::value<std::string>()->implicit_value("true"), help.c_str());
    else options.add_options()(name.c_str(), po::value<std::string>(), help.c_str());
  }
  options.add_options()((prefix + "no-gradcheck").c_str(), po::bool_switch(), "the same as gradcheck = false");
}

std::vector<std::pair<std::string, std::string>> given_run_options(const po::variables_map& vm, const std::string& prefix) {
  std::vector<std::pair<std::string, std::string>> given;
  for (const RunOption& o : run_options()) {
    const std::string name = prefix + o.key;
    if (vm.count(name)) given.emplace_back(o.key, vm[name].as<std::string>());
  }
  const std::string no_check = prefix + "no-gradcheck";
  if (vm.count(no_check) && vm[no_check].as<bool>()) given.emplace_back("gradcheck", "false");
  return given;
}

bool is_no_gradcheck(const std::string& key) { return key == "no-gradcheck" || key == "no_gradcheck"; }

void apply_run_option(RunConfig& config, const std::string& key, const std::string& value, const std::string& where) {
  const std::string at = where.empty() ? "" : where + ": ";  // a command-line value says which option itself
  if (is_no_gradcheck(key)) {
    RunConfig probe;
    set_option(probe, *find_run_option("gradcheck"), value);
    config.gradcheck = !probe.gradcheck;
    return;
  }
  const RunOption* option = find_run_option(key);  // d-model, d_model: either spelling
  if (!option) throw UserError(at + "unknown option '" + key + "'" + unknown_option_hint(key));
  try {
    set_option(config, *option, value);
  } catch (const UserError& e) {
    throw UserError(at + e.what());
  }
}

}  // namespace sbx::cli
