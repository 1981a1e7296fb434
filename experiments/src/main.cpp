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
#include "experiments/src/train/stop_signal.hpp"
#include "experiments/src/user_error.hpp"

namespace {

// A sweep catches SIGINT and SIGTERM (and ends with exit 130, what finished saved) from the first instant
// any code of the process runs: the dynamic loader calls this from the executable's .preinit_array before
// the initialisers of the ~40 shared libraries (HDF5 and its libcurl, TLS, ...) and main. Only the
// loader's own mapping of those libraries comes earlier (tens of milliseconds on a busy machine, the
// window a sweep's SIGINT test once hit); no code of any program runs then. Other commands keep the default action until
// they install their own handlers (train: once it starts training).
void install_early_stop_handlers(int argc, char** argv, char**) {
  if (argc >= 2 && std::strcmp(argv[1], "sweep") == 0) sbx::install_stop_handlers();
}
[[gnu::section(".preinit_array"), gnu::used]] void (*const early_stop_handlers)(int, char**, char**) =
    install_early_stop_handlers;

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
  // A reader that closes the pipe (`| head -n 1`) must not kill training or saving: ignored, a write to
  // it fails with EPIPE and what is printed is lost, nothing else.
  std::signal(SIGPIPE, SIG_IGN);
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
