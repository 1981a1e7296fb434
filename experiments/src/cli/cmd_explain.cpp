// `sandbox explain`: the seed texts' worked examples, computed by the engine and printed step by step.
#include <cstdio>

#include "experiments/src/cli/options.hpp"
#include "experiments/src/study/explain.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::cli {

int run_explain(const Args& args) {
  std::string example;
  std::string names;
  for (const auto& n : study::explain_example_names()) {
    if (!names.empty()) names += ", ";
    names += n;
  }
  po::options_description options("explain options");
  options.add_options()("example", po::value(&example), ("one example: " + names + " (default: all, in this order)").c_str());
  po::variables_map vm;
  if (!parse_options("explain", args, options, vm)) return 0;

  std::vector<std::string> chosen = study::explain_example_names();
  if (vm.count("example")) chosen = {example};
  std::string text;
  for (const auto& name : chosen) {  // all computed (and an unknown name refused) before anything is printed
    if (!text.empty()) text += "\n";
    text += study::explain_example(name);
  }
  std::fputs(text.c_str(), stdout);
  return 0;
}

}  // namespace sbx::cli
