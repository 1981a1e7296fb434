#include "experiments/src/io/run_saver.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "experiments/src/io/file_lock.hpp"
#include "experiments/src/io/h5_store.hpp"
#include "experiments/src/io/isolated.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::io {
namespace {

namespace fs = std::filesystem;

// sandbox-unsaved-<UTC time>-<pid>.h5: unique per process, short whatever the target's name.
std::string fallback_name() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  return std::string("sandbox-unsaved-") + stamp + "-" + std::to_string(::getpid()) + ".h5";
}

// Where to try, in order: the user's --fallback-out, else next to the target; then the temp directory
// (a full disk under the target is usually not the disk of /tmp).
std::vector<std::string> fallback_candidates(const std::string& target, const std::string& fallback_out) {
  std::vector<std::string> paths;
  if (!fallback_out.empty()) paths.push_back(fallback_out);
  const fs::path parent = fs::path(resolve_target(target)).parent_path();
  if (fallback_out.empty()) paths.push_back(((parent.empty() ? fs::path(".") : parent) / fallback_name()).string());
  std::error_code ec;
  const fs::path temp = fs::temp_directory_path(ec);
  if (!ec) paths.push_back((temp / fallback_name()).string());
  return paths;
}

[[maybe_unused]] bool other_threads_running() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("Threads:", 0) == 0) return std::atol(line.c_str() + 8) > 1;
  return false;
}

// save_runs in a forked child (isolated.hpp). Adding to a file reads all of it into HDF5, and damage that
// validation cannot see, or that came after it (the file replaced while the run trained), can crash
// inside the library: in a child, that crash costs the save, not the trained runs, which the caller then
// puts in a fallback file. Throws UserError when the save failed or crashed.
void save_in_child(const std::string& path, const std::vector<RunRecord>& runs, bool overwrite, double lock_timeout,
                   bool rebuild) {
#if defined(__SANITIZE_ADDRESS__)
  // GCC 12's AddressSanitizer does not lock its allocator around fork(): a child forked while other
  // threads run (a sweep's periodic saves) can deadlock on it. There, such a save stays in this process.
  if (other_threads_running()) return save_runs(path, runs, overwrite, lock_timeout, rebuild);
#endif
  const auto saved = run_isolated([&] {
    // For tests (robust.final_save): a save into the file this names dies like a crash in HDF5 would.
    if (const char* fault = std::getenv("SANDBOX_TEST_CRASH_SAVING"); fault && path == fault) std::abort();
    save_runs(path, runs, overwrite, lock_timeout, rebuild);
    return std::string("saved");
  });
  if (saved) return;
  // The dead child may have left its temporary file and the lock file behind: remove them if nobody else
  // holds the lock (then the lock file goes when the probe lets go of it).
  const std::string target = resolve_target(path);
  remove_stale_temps(target);
  try {
    const FileLock probe(target, FileLock::Mode::Exclusive, 0);
  } catch (const UserError&) {
  }
  throw UserError("saving into " + path + " crashed the HDF5 library (the file is damaged)");
}

}  // namespace

void RunSaver::save(const std::vector<RunRecord>& runs, bool overwrite) {
  if (runs.empty() || lost_) return;
  if (fallback_.empty()) {
    try {
      save_in_child(target_, runs, overwrite, options_.lock_timeout, options_.rebuild_damaged);
      options_.rebuild_damaged = false;  // the file is whole again
      return;
    } catch (const UserError& e) {
      cause_ = e.what();
    }
    std::string last_problem;
    for (const std::string& path : fallback_candidates(target_, options_.fallback_out)) {
      try {
        save_in_child(path, runs, /*overwrite=*/false, -1, false);
        fallback_ = path;
        break;
      } catch (const UserError& e) {
        last_problem = e.what();
      }
    }
    if (fallback_.empty()) {
      lost_ = true;
      error_ = cause_ + "; the trained runs could not be saved anywhere else either (" + last_problem + ")";
      return;
    }
  } else {
    try {
      save_in_child(fallback_, runs, /*overwrite=*/false, -1, false);
    } catch (const UserError& e) {
      lost_ = true;
      error_ = cause_ + "; " + std::to_string(runs_in_fallback_) + " runs were saved to " + fallback_ +
               ", later ones could not be (" + e.what() + ")";
      return;
    }
  }
  runs_in_fallback_ += runs.size();
  error_ = cause_ + "; " + (runs_in_fallback_ == 1 ? std::string("the run was") : std::to_string(runs_in_fallback_) + " runs were") +
           " saved to " + fallback_ + " instead (add with: sandbox merge " + target_ + " " + fallback_ + ")";
}

}  // namespace sbx::io
