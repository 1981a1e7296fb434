#include "experiments/src/io/run_file.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>

#include "experiments/src/io/file_lock.hpp"
#include "experiments/src/io/h5_store.hpp"
#include "experiments/src/io/isolated.hpp"
#include "experiments/src/io/layout.hpp"
#include "experiments/src/io/run_check.hpp"
#include "experiments/src/io/run_checksum.hpp"
#include "git_commit.hpp"  // generated at build time: SANDBOX_GIT_COMMIT
#include "experiments/src/user_error.hpp"

namespace sbx::io {
namespace {

namespace lo = layout;

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

}  // namespace

void write_root_attributes(H5::H5File& file) {
  if (!file.attrExists(lo::root::created_utc)) set_attr(file, lo::root::created_utc, utc_now());
  set_attr(file, lo::root::git_commit, std::string(SANDBOX_GIT_COMMIT));
  set_attr(file, lo::root::sandbox_version, std::string(SANDBOX_VERSION));
  set_attr(file, lo::root::eigen_version, eigen_version_string());
  set_attr(file, lo::root::hdf5_version, hdf5_version_string());
}

void write_run_group(H5::H5File& file, const RunRecord& run) {
  if (!file.exists(lo::run::group)) file.createGroup(lo::run::group);
  H5::Group runs = file.openGroup(lo::run::group);
  delete_path(runs, run.name);
  H5::Group group = runs.createGroup(run.name);
  for (const auto& [key, value] : run.attributes)
    if (key != lo::run::checksum) std::visit([&, &k = key](const auto& v) { set_attr(group, k, v); }, value);
  // Computed from what is written (a record read back from another file carries its old checksum: replaced).
  set_attr(group, lo::run::checksum, run_checksum(run));
  write_int_vector(group, lo::run::step, run.steps);
  for (const auto& [key, values] : run.series) write_vector(group, key, values);
  for (const auto& [key, values] : run.int_series) write_int_vector(group, key, values);
  for (const auto& [key, m] : run.params_init) write_matrix(group, std::string(lo::run::params_init) + "/" + key, m);
  for (const auto& [key, m] : run.params_final) write_matrix(group, std::string(lo::run::params) + "/" + key, m);
}

void RunRecord::set(const std::string& key, AttributeValue value) {
  for (auto& [k, v] : attributes)
    if (k == key) {
      v = std::move(value);
      return;
    }
  attributes.emplace_back(key, std::move(value));
}

const AttributeValue* RunRecord::get(const std::string& key) const {
  for (const auto& [k, v] : attributes)
    if (k == key) return &v;
  return nullptr;
}

std::vector<double>& RunRecord::series_named(const std::string& key) {
  for (auto& [k, v] : series)
    if (k == key) return v;
  series.emplace_back(key, std::vector<double>{});
  return series.back().second;
}

std::vector<std::int64_t>& RunRecord::int_series_named(const std::string& key) {
  for (auto& [k, v] : int_series)
    if (k == key) return v;
  int_series.emplace_back(key, std::vector<std::int64_t>{});
  return int_series.back().second;
}

void check_can_save(const std::string& path, const std::vector<std::string>& run_names, bool overwrite) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path parent = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::error_code ec;  // the error_code overloads: an over-long name must become a UserError, not an exception
  if (fs::is_directory(target, ec)) throw UserError(path + ": is a directory, not a file");
  if (!fs::is_directory(parent, ec)) throw UserError(path + ": directory " + parent.string() + " does not exist");
  check_writable_target(path);  // unwritable directory, over-long name, non-HDF5 file: refused before training
  if (!fs::exists(resolve_target(path), ec)) return;
  H5Reader reader(resolve_target(path));  // throws UserError for a non-HDF5 or unreadable file
  if (reader.has_link(lo::run::group_path) && reader.object_kind(lo::run::group_path) != H5Reader::Kind::Group)
    throw UserError(path + ": /runs is not a group (not a run file)");
  if (overwrite) return;
  for (const std::string& name : run_names)
    if (reader.exists(lo::run::path(name)))
      throw UserError(path + ": run '" + name + "' is already in the file (give another --run NAME to keep both; --overwrite would replace it)");
}

void save_runs(const std::string& path, const std::vector<RunRecord>& runs, bool overwrite, double lock_timeout,
               bool rebuild) {
  silence_hdf5_errors();
  const std::string target = resolve_target(path);
  rebuild = rebuild && std::filesystem::exists(target);
  // Takes the file's lock: concurrent writers add to each other's result.
  H5Transaction edit(path, lock_timeout, /*start_empty=*/rebuild);
  H5::H5File& file = edit.file();
  if (rebuild) {
    const H5Reader old(target);
    if (old.has_link(lo::run::group_path)) {
      std::vector<std::string> damaged;
      for (const auto& [name, problem] : damaged_runs(target)) damaged.push_back(name);
      for (const std::string& name : old.list_links(lo::run::group_path)) {
        const bool replaced = std::any_of(runs.begin(), runs.end(), [&](const RunRecord& r) { return r.name == name; });
        if (!replaced && std::find(damaged.begin(), damaged.end(), name) == damaged.end())
          write_run_group(file, load_run(old, name));
      }
    }
    if (old.has_attr("/", lo::root::created_utc)) set_attr(file, lo::root::created_utc, old.read_string_attr("/", lo::root::created_utc));
  }
  try {
    for (const RunRecord& run : runs) {
      if (!overwrite && file.exists(lo::run::group) && file.openGroup(lo::run::group).exists(run.name))
        throw UserError(path + ": run '" + run.name + "' is already in the file (--overwrite would replace it)");
      write_run_group(file, run);
    }
    write_root_attributes(file);
  } catch (const H5::Exception& e) {
    throw UserError(path + ": cannot write: " + e.getDetailMsg());
  }
  edit.commit();
}

std::vector<StoredRun> stored_runs(const std::string& path) {
  std::vector<StoredRun> runs;
  if (!std::filesystem::exists(path)) return runs;
  // Read in a child: the file may be damaged in ways that crash the HDF5 library (see isolated.hpp).
  const auto text = run_isolated([&] {
    std::string reply;
    H5Reader reader(path);
    if (!reader.exists(lo::run::group_path)) return reply;
    for (const std::string& name : reader.list_groups(lo::run::group_path)) {
      const std::string where = lo::run::path(name);
      append_field(reply, name);
      append_field(reply, reader.has_attr(where, lo::run::status) ? reader.read_string_attr(where, lo::run::status) : "");
      append_field(reply, reader.has_attr(where, lo::run::config) ? reader.read_string_attr(where, lo::run::config) : "");
    }
    return reply;
  });
  if (!text)
    throw UserError(path + ": is damaged (reading its runs crashes the HDF5 library); `sandbox merge --skip-damaged NEW.h5 " +
                    path + "` keeps the intact runs");
  std::size_t pos = 0;
  for (StoredRun run; next_field(*text, pos, run.name) && next_field(*text, pos, run.status) &&
                      next_field(*text, pos, run.config);)
    runs.push_back(run);
  return runs;
}

std::vector<std::pair<std::string, std::string>> run_statuses(const std::string& path, double lock_timeout) {
  std::vector<std::pair<std::string, std::string>> statuses;
  const std::string target = resolve_target(path);
  if (!std::filesystem::exists(target)) return statuses;
  // Shared: other planners may read at the same time, but no writer replaces the file meanwhile.
  FileLock lock(target, FileLock::Mode::Shared, lock_timeout);
  H5Reader reader(target);
  if (!reader.exists(lo::run::group_path)) return statuses;
  for (const std::string& name : reader.list_groups(lo::run::group_path)) {
    const std::string where = lo::run::path(name);
    statuses.emplace_back(name, reader.has_attr(where, lo::run::status) ? reader.read_string_attr(where, lo::run::status) : "");
  }
  return statuses;
}

}  // namespace sbx::io
