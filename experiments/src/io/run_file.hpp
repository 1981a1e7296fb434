#pragma once
// Run files: records of runs, written in the layout of io/layout.hpp (root attributes; /runs/<name> with
// scalar attributes, 1-D series and the params_init/, params/ matrices).
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <Eigen/Core>
#include <H5Cpp.h>

namespace sbx::io {

using AttributeValue = std::variant<std::string, std::int64_t, double>;

struct RunRecord {
  std::string name;
  std::vector<std::pair<std::string, AttributeValue>> attributes;
  std::vector<std::int64_t> steps;
  // A deque, so that references from series_named() stay valid while more series are added.
  std::deque<std::pair<std::string, std::vector<double>>> series;  // "loss", "grad_norm/W_Q", ...
  // Series on a clock of their own (the evaluation's "eval/step"), int64.
  std::deque<std::pair<std::string, std::vector<std::int64_t>>> int_series;
  std::vector<std::pair<std::string, Eigen::MatrixXd>> params_init, params_final;

  void set(const std::string& key, AttributeValue value);  // add or replace an attribute
  const AttributeValue* get(const std::string& key) const;
  std::vector<double>& series_named(const std::string& key);  // created empty on first use
  std::vector<std::int64_t>& int_series_named(const std::string& key);
};

// Refuses, before any work is done, what saving would refuse: a missing directory, a directory or a
// non-HDF5 file at `path`, or a run name already in the file without `overwrite`. Throws UserError.
void check_can_save(const std::string& path, const std::vector<std::string>& run_names, bool overwrite);

// Adds the runs to the file (created if missing) in one atomic replacement, holding the file's lock (waiting
// at most lock_timeout seconds, < 0: forever): on any error, or if the process dies, the file is left as
// it was. A run already in the file is refused unless `overwrite`, which replaces that run only. Root
// attributes are (re)written; created_utc is kept if present.
// With rebuild, the file is written anew from its intact runs (validated, re-read) plus `runs`: for a file
// known to hold damaged runs, which HDF5 must not be asked to edit in place.
void save_runs(const std::string& path, const std::vector<RunRecord>& runs, bool overwrite, double lock_timeout = -1,
               bool rebuild = false);

// Writes one run as /runs/<name> (replacing a run of that name) in the layout above.
void write_run_group(H5::H5File& file, const RunRecord& run);

// created_utc (kept when present), git_commit, sandbox_version, eigen_version, hdf5_version: the root
// attributes of every file the sandbox writes.
void write_root_attributes(H5::H5File& file);

// What a file holds under each run name: its status and its stored configuration text (`config`,
// empty for runs written before configurations were stored). Empty if the file does not exist.
struct StoredRun {
  std::string name, status, config;
};
std::vector<StoredRun> stored_runs(const std::string& path);

// The status attribute of every run in a file ("complete", "interrupted", "diverged"); empty if the
// file does not exist. Throws UserError for an unreadable file.
// Read under the file's shared lock (no writer replaces it meanwhile).
std::vector<std::pair<std::string, std::string>> run_statuses(const std::string& path, double lock_timeout = -1);

}  // namespace sbx::io
