// sandbox: the √d_k attention sandbox's one executable. Dispatches to a subcommand and turns every
// user error into one line on stderr and exit code 2.
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <new>
#include <string>

#include "experiments/src/cli/commands.hpp"
#include "experiments/src/io/h5_store.hpp"
#include "experiments/src/user_error.hpp"

namespace {

void print_usage(std::FILE* out) {
  std::fprintf(out, "usage: sandbox <command> [options]   (sandbox <command> --help for its options)\n\ncommands:\n");
  for (const auto& c : sbx::cli::commands()) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
}

int run_command(int argc, char** argv);

}  // namespace

int main(int argc, char** argv) {
  // A file-size limit (ulimit -f) would kill the process with SIGXFSZ mid-write; ignored, the write fails
  // with EFBIG instead and is reported like a full disk, the trained runs going to a fallback file.
  std::signal(SIGXFSZ, SIG_IGN);
  // HDF5's clean-up at exit closes every file still open; a damaged file abandoned after a failed close
  // (io::H5Transaction) would crash it, so such a process ends with _Exit.
  const int code = run_command(argc, argv);
  if (sbx::io::hdf5_file_abandoned()) {
    std::fflush(nullptr);
    std::_Exit(code);
  }
  return code;
}

namespace {

int run_command(int argc, char** argv) {
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--version" || name == "version") {
    std::printf("%s\n", sbx::cli::version_text().c_str());
    return 0;
  }
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(stdout);
    return 0;
  }
  for (const auto& command : sbx::cli::commands()) {
    if (name != command.name) continue;
    return sbx::cli::run_reporting_errors(name, [&] { return command.run(sbx::cli::Args(argv + 2, argv + argc)); });
  }
  std::fprintf(stderr, "sandbox: unknown command '%s' (try sandbox --help)\n", name.c_str());
  return 2;
}

}  // namespace
