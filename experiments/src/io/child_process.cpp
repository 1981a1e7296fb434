#include "experiments/src/io/child_process.hpp"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>

namespace sbx::io {
namespace {

// Ends the child when its parent dies. PR_SET_PDEATHSIG covers a parent that dies later; a parent that
// died between fork() and prctl() is seen by the parent id having changed.
void die_with_parent(pid_t parent) {
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) std::_Exit(128 + SIGKILL);
}

}  // namespace

std::optional<int> run_forked(const std::function<int()>& in_child, const std::function<void()>& while_running,
                              const std::function<void(pid_t)>& on_start) {
  std::fflush(nullptr);  // what is buffered would otherwise be printed twice
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) return std::nullopt;
  if (child == 0) {
    die_with_parent(parent);
    int code = 1;
    try {
      code = in_child();
    } catch (...) {
    }
    std::fflush(nullptr);
    std::_Exit(code);
  }
  if (on_start) on_start(child);
  if (while_running) while_running();
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

}  // namespace sbx::io
