#include "experiments/src/io/file_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "experiments/src/io/run_checksum.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::io {
namespace {

namespace fs = std::filesystem;

fs::path parent_dir(const fs::path& path) {
  const fs::path parent = path.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

}  // namespace

std::string resolve_target(const std::string& path) {
  fs::path p(path);
  std::error_code ec;
  // Follow a chain of links by hand (a dangling link's target is where the file is to be created).
  for (int hops = 0; hops < 40 && fs::is_symlink(fs::symlink_status(p, ec)); ++hops) {
    const fs::path target = fs::read_symlink(p, ec);
    if (ec) break;
    p = target.is_absolute() ? target : parent_dir(p) / target;
  }
  // Still a link after 40 hops (the kernel's own limit): a loop, which every later open would fail on with
  // ELOOP (and std::filesystem would throw for).
  if (fs::is_symlink(fs::symlink_status(p, ec)))
    throw UserError(path + ": is a loop of symbolic links (or a chain of more than 40), not a file");
  return p.string();
}

std::string short_stem(const std::string& path) {
  const std::uint64_t hash = fnv1a64(fs::path(path).filename().string());
  char text[24];
  std::snprintf(text, sizeof text, ".sbx-%016llx", static_cast<unsigned long long>(hash));
  return text;
}

long lock_holder(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return 0;
  std::ifstream locks("/proc/locks");
  // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (blocked requests have "->" after the number)
  for (std::string line; std::getline(locks, line);) {
    std::istringstream in(line);
    std::string id, type, advisory, access, device;
    long pid = 0;
    in >> id >> type;
    if (type == "->") continue;
    in >> advisory >> access >> pid >> device;
    unsigned major_no = 0, minor_no = 0;
    unsigned long inode = 0;
    if (std::sscanf(device.c_str(), "%x:%x:%lu", &major_no, &minor_no, &inode) != 3) continue;
    if (type == "FLOCK" && inode == st.st_ino && major_no == major(st.st_dev) && minor_no == minor(st.st_dev))
      return pid;
  }
  return 0;
}

FileLock::FileLock(const std::string& target, Mode mode, double timeout_seconds, const std::function<bool()>& stop)
    : lock_path_((parent_dir(target) / short_stem(target)).string() + ".lock"), mode_(mode) {
  using clock = std::chrono::steady_clock;
  const auto started = clock::now();
  const int operation = (mode == Mode::Exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
  bool said_waiting = false;
  auto pause = std::chrono::milliseconds(2);
  for (;;) {
    if (fd_ < 0) {
      fd_ = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      if (fd_ < 0)
        throw UserError(target + ": cannot create the lock file " + lock_path_ + ": " + std::strerror(errno) +
                        " (is the directory writable?)");
    }
    if (::flock(fd_, operation) == 0) {
      // The previous holder may have removed the lock file after we opened it: then we hold a lock on a
      // file nobody else will ever open. Retry on the file now at the path.
      struct stat held {}, now {};
      if (::fstat(fd_, &held) == 0 && ::stat(lock_path_.c_str(), &now) == 0 && held.st_ino == now.st_ino &&
          held.st_dev == now.st_dev)
        return;
      ::close(fd_);
      fd_ = -1;
      continue;
    }
    if (errno != EWOULDBLOCK && errno != EINTR) {
      const int err = errno;
      ::close(fd_);
      fd_ = -1;
      throw UserError(target + ": cannot lock " + lock_path_ + ": " + std::strerror(err));
    }
    const double waited = std::chrono::duration<double>(clock::now() - started).count();
    if (timeout_seconds >= 0 && waited >= timeout_seconds) {
      const long holder = lock_holder(fd_);
      ::close(fd_);
      fd_ = -1;
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%g", timeout_seconds);
      throw LockTimeout(target + ": still locked by " +
                        (holder > 0 ? "process " + std::to_string(holder) : std::string("another process")) +
                        " after --lock-timeout " + seconds + " s");
    }
    if (stop && stop()) {
      ::close(fd_);
      fd_ = -1;
      throw LockWaitStopped(target + ": stopped while waiting for its lock");
    }
    if (!said_waiting) {
      // The holder may have let go since flock() failed: name it only once /proc/locks shows it (or, if
      // /proc/locks never does, after a second).
      const long holder = lock_holder(fd_);
      if (holder > 0 || waited > 1.0) {
        std::fprintf(stderr, "sandbox: waiting for %s, locked by %s\n", target.c_str(),
                     holder > 0 ? ("process " + std::to_string(holder)).c_str() : "another process");
        said_waiting = true;
      }
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

void wait_for_other_writers(const std::string& target, double timeout_seconds) {
  using clock = std::chrono::steady_clock;
  const auto started = clock::now();
  auto pause = std::chrono::milliseconds(2);
  bool said_waiting = false;
  for (;;) {
    const int fd = ::open(target.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;  // missing (or unreadable: opening it for editing says so)
    if (::flock(fd, LOCK_SH | LOCK_NB) == 0 || errno != EWOULDBLOCK) {
      ::close(fd);  // our shared lock goes with it: HDF5 is never asked to open the file anyway
      return;
    }
    const long holder = lock_holder(fd);
    ::close(fd);
    const std::string who = holder > 0 ? "process " + std::to_string(holder) : std::string("another program");
    const double waited = std::chrono::duration<double>(clock::now() - started).count();
    if (timeout_seconds >= 0 && waited >= timeout_seconds) {
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%g", timeout_seconds);
      throw LockTimeout(target + ": still open for writing in " + who + " after --lock-timeout " + seconds + " s");
    }
    if (!said_waiting) {
      std::fprintf(stderr, "sandbox: waiting for %s, which %s has open for writing (close it there, e.g. the h5py session)\n",
                   target.c_str(), who.c_str());
      said_waiting = true;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

FileLock::~FileLock() {
  if (fd_ < 0) return;
  // Remove the lock file when nobody else holds it: an exclusive holder is alone by definition; a shared
  // holder is alone if it can take the lock exclusively. Waiters that opened it notice and retry.
  if (mode_ == Mode::Exclusive || ::flock(fd_, LOCK_EX | LOCK_NB) == 0) ::unlink(lock_path_.c_str());
  ::close(fd_);
}

}  // namespace sbx::io
