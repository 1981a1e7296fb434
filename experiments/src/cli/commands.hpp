#pragma once
// The subcommands of `sandbox`. Each takes its own arguments (after the subcommand name) and returns
// the process exit code. Bad input is reported by throwing sbx::UserError (exit 2).
#include <string>
#include <vector>

namespace sbx::cli {

using Args = std::vector<std::string>;

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const Args& args);
};

const std::vector<Command>& commands();

// "sandbox 0.1.0 (git abc1234)": the version and the commit of the build, as stamped into run files.
std::string version_text();

int run_train(const Args& args);
int run_sweep(const Args& args);
int run_merge(const Args& args);
int run_theory(const Args& args);
int run_explain(const Args& args);
int run_gradcheck(const Args& args);
int run_grad(const Args& args);
int run_bench(const Args& args);

}  // namespace sbx::cli
