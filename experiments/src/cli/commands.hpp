#pragma once
// The subcommands of `sandbox`. Each takes its own arguments (after the subcommand name) and returns
// the process exit code. Bad input is reported by throwing sbx::UserError (exit 2).
#include <functional>
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

// Runs a command's body and turns what it throws into its exit code and one line on stderr: a UserError
// (or bad_alloc) exit 2, anything else "internal error", exit 1. Used by main() and by a command's child
// process (sandbox grad reads its input in one).
int run_reporting_errors(const std::string& command, const std::function<int()>& body);

// Runs `body` in a forked child (reporting its errors like run_reporting_errors) and returns its exit
// code. Reading a damaged HDF5 file can crash inside the library; if the child dies by a signal,
// `on_crash` cleans up and a UserError naming `what` ("in.h5") says the file is damaged. Without fork,
// runs `body` here.
int run_in_child(const std::string& command, const std::string& what, const std::function<int()>& body,
                 const std::function<void()>& on_crash);

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
int run_layout(const Args& args);
int run_sample(const Args& args);

}  // namespace sbx::cli
