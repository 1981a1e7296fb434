#pragma once
// Saving trained runs so that none is lost: a run that trained is written to its file, or, when that
// fails (no space, a size limit, permissions, --lock-timeout, a file that turned bad, a name another
// process took meanwhile), to a fallback file from which `sandbox merge` can add it later.
#include <string>
#include <vector>

#include "experiments/src/io/run_file.hpp"

namespace sbx::io {

struct SaveOptions {
  double lock_timeout = -1;  // seconds to wait for the file's lock; < 0: forever
  std::string fallback_out;  // where runs go if the target cannot take them; empty: next to the target
  bool rebuild_damaged = false;  // the target holds damaged runs: the first save rebuilds it (save_runs)
};

class RunSaver {
 public:
  RunSaver(std::string target, SaveOptions options) : target_(std::move(target)), options_(std::move(options)) {}

  // Adds the runs to the target. If that fails, writes them to the fallback file instead (and every later
  // save goes there too) and records why; it throws only for programming errors.
  void save(const std::vector<RunRecord>& runs, bool overwrite);

  bool failed() const { return !error_.empty(); }
  // One line: why the target could not take the runs, and where they are
  // ("no space left on device while writing a.h5; the run was saved to X instead: sandbox merge a.h5 X").
  const std::string& error() const { return error_; }

 private:
  std::string target_;
  SaveOptions options_;
  std::string fallback_;  // set once the target failed and a fallback file took the runs
  std::string cause_;  // why the target failed
  std::string error_;
  bool lost_ = false;  // not even a fallback file could take them
  std::size_t runs_in_fallback_ = 0;
};

}  // namespace sbx::io
