#include "experiments/src/cli/commands.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <csignal>

#include <cstdio>
#include <new>

#include "experiments/src/io/child_process.hpp"
#include "experiments/src/text.hpp"
#include "experiments/src/user_error.hpp"
#include "git_commit.hpp"  // generated at build time: SANDBOX_GIT_COMMIT

namespace sbx::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> all = {
      {"train", "train one attention model on a toy task and log it to HDF5", run_train},
      {"sweep", "run a grid of training runs from an INI file into one HDF5 file", run_sweep},
      {"merge", "merge run files: sandbox merge OUT.h5 IN.h5...", run_merge},
      {"theory", "Monte Carlo of Var(q.k) and softmax saturation against d_k", run_theory},
      {"explain", "the seeds' worked examples, computed step by step", run_explain},
      {"gradcheck", "check every op's and model's gradient against central differences", run_gradcheck},
      {"grad", "loss and gradients of self-attention for parameters and data in a file", run_grad},
      {"bench", "time a training step against a hand-derived Eigen reference", run_bench},
      {"layout", "the HDF5 layout of run, theory and bench files (--json for programs)", run_layout},
  };
  return all;
}

int run_reporting_errors(const std::string& command, const std::function<int()>& body) {
  try {
    return body();
  } catch (const UserError& e) {
    // One line: messages that do not say which command they come from get its name in front. Names in
    // it may come from a damaged file or the command line: control bytes and invalid UTF-8 are escaped.
    const std::string message = printable(e.what());
    if (message.rfind("sandbox ", 0) == 0) std::fprintf(stderr, "%s\n", message.c_str());
    else std::fprintf(stderr, "sandbox %s: %s\n", command.c_str(), message.c_str());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "sandbox %s: out of memory (are the sizes absurd?)\n", command.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sandbox %s: internal error: %s\n", command.c_str(), e.what());
    return 1;
  }
}

namespace {

// While a command's child does the work, SIGINT or SIGTERM to the parent kills the child before it
// can replace the file (an edit is all-or-nothing: its temporary file is then removed), and the command
// ends with exit 130.
volatile std::sig_atomic_t g_interrupted = 0;
volatile pid_t g_worker = 0;

extern "C" void stop_worker(int) {
  g_interrupted = 1;
  if (g_worker > 0) ::kill(g_worker, SIGKILL);
}

struct StopWorkerOnSignal {
  struct sigaction old_int {}, old_term {};
  StopWorkerOnSignal() {
    struct sigaction action {};
    action.sa_handler = stop_worker;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, &old_int);
    ::sigaction(SIGTERM, &action, &old_term);
  }
  ~StopWorkerOnSignal() {
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGTERM, &old_term, nullptr);
    g_worker = 0;
  }
};

}  // namespace

int run_in_child(const std::string& command, const std::string& what, const std::function<int()>& body,
                 const std::function<void()>& on_crash) {
  g_interrupted = 0;
  const StopWorkerOnSignal stop_worker_on_signal;
  const auto status = io::run_forked(
      [&] {
        // The child does the work; a signal to it (the terminal's SIGINT reaches both) ends it.
        std::signal(SIGINT, SIG_DFL);
        std::signal(SIGTERM, SIG_DFL);
        return run_reporting_errors(command, body);
      },
      {},
      [](pid_t child) {
        g_worker = child;
        if (g_interrupted) ::kill(child, SIGKILL);  // the signal came before the pid was known
      });
  if (!status) return body();  // no fork to be had: do it here
  if (WIFEXITED(*status)) return WEXITSTATUS(*status);
  on_crash();
  if (g_interrupted || WTERMSIG(*status) == SIGINT || WTERMSIG(*status) == SIGTERM) {
    std::fprintf(stderr, "sandbox %s: interrupted; nothing was written\n", command.c_str());
    return 130;
  }
  throw UserError(what + ": reading it crashed the process (signal " + std::to_string(WTERMSIG(*status)) +
                  "): the file is damaged; nothing was written");
}

std::string version_text() { return std::string("sandbox ") + SANDBOX_VERSION + " (git " + SANDBOX_GIT_COMMIT + ")"; }

}  // namespace sbx::cli
