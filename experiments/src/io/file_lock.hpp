#pragma once
// Serialises the processes that read-copy-edit-rename one file. Every edit of a file replaces it by a
// rename, so the lock cannot live on the file itself: it is an flock() on a sidecar `.sbx-<hash>.lock`
// next to the (symlink-resolved) target, which the rename leaves alone. Writers hold it exclusively for the
// whole read-copy-edit-rename; a sweep planning what to run holds it shared. The last holder removes the
// lock file, so no lock file stays behind (a waiter that locked a removed file notices and retries).
#include <functional>
#include <string>

#include "experiments/src/user_error.hpp"

namespace sbx::io {

// The lock was not free within --lock-timeout.
struct LockTimeout : UserError {
  using UserError::UserError;
};

// The path a write to `path` must go to: a symlink's target (followed to the end), so that writing keeps
// the link and updates what it points to. Other paths are returned unchanged. UserError for a loop of links.
std::string resolve_target(const std::string& path);

// `.sbx-<16 hex digits>` from a file's base name: short, so that temp and lock names fit whatever the
// length of a legal file name.
std::string short_stem(const std::string& path);

// Waiting for the lock was given up because the caller asked to (a SIGINT while a sweep plans).
struct LockWaitStopped : UserError {
  using UserError::UserError;
};

class FileLock {
 public:
  enum class Mode { Shared, Exclusive };
  // Waits for the lock on `target` (a resolved path). While waiting, says once on stderr which process
  // holds it. timeout_seconds < 0 waits forever; on timeout throws LockTimeout. Throws UserError if the
  // lock file cannot be created (e.g. the directory is not writable). While it waits, `stop` (if given)
  // is asked between tries; once it says true, throws LockWaitStopped. Writers never pass one: they wait
  // to save runs that trained.
  FileLock(const std::string& target, Mode mode, double timeout_seconds, const std::function<bool()>& stop = {});
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  const std::string& lock_path() const { return lock_path_; }

 private:
  std::string lock_path_;
  Mode mode_;
  int fd_ = -1;
};

// The process holding a lock on the file open as fd (from /proc/locks), or 0 if unknown.
long lock_holder(int fd);

// Another program with `target` open for writing (h5py in mode "a", HDFView) holds HDF5's own flock on it,
// and HDF5 will not open the file until it closes. A writer with runs to save waits for that, saying once
// on stderr who holds it, as long as for the sandbox's own lock: timeout_seconds < 0 waits forever, else
// LockTimeout. Returns at once for a missing file or one nobody holds.
void wait_for_other_writers(const std::string& target, double timeout_seconds);

}  // namespace sbx::io
