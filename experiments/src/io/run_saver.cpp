#include "experiments/src/io/run_saver.hpp"

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>

#include "experiments/src/io/file_lock.hpp"
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

}  // namespace

void RunSaver::save(const std::vector<RunRecord>& runs, bool overwrite) {
  if (runs.empty() || lost_) return;
  if (fallback_.empty()) {
    try {
      save_runs(target_, runs, overwrite, options_.lock_timeout, options_.rebuild_damaged);
      options_.rebuild_damaged = false;  // the file is whole again
      return;
    } catch (const UserError& e) {
      cause_ = e.what();
    }
    std::string last_problem;
    for (const std::string& path : fallback_candidates(target_, options_.fallback_out)) {
      try {
        save_runs(path, runs, /*overwrite=*/false);
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
      save_runs(fallback_, runs, /*overwrite=*/false);
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
