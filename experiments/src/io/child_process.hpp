#pragma once
// The one way this program forks: reading a file that may be damaged happens in a child, so that a crash
// inside the HDF5 library ends the child, not the command. The child never outlives its parent: it is
// killed when the parent dies (even by SIGKILL), so that a killed command changes nothing afterwards.
#include <sys/types.h>

#include <functional>
#include <optional>

namespace sbx::io {

// Forks; the child runs `in_child` and ends with std::_Exit(its result), without exit-time clean-up of
// what the parent owns (open HDF5 files among them). The parent runs `while_running` (e.g. reading a pipe
// the child writes) and then waits for the child. Returns the child's wait status (see waitpid), or
// nullopt if there was no fork to be had (the caller then does the work itself). `on_start` is told the
// child's pid first (to stop it from a signal handler).
std::optional<int> run_forked(const std::function<int()>& in_child, const std::function<void()>& while_running = {},
                              const std::function<void(pid_t)>& on_start = {});

}  // namespace sbx::io
