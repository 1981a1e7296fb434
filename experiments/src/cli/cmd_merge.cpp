// `sandbox merge OUT.h5 IN.h5...`: gathers the runs of several run files (e.g. the shards of a sweep)
// into one. A name found twice is accepted only when both copies are the same run (same attributes but
// wall_seconds, same loss series); two different runs under one name are refused and nothing is written.
// Inputs are validated run by run first (io/run_check.hpp): a damaged run is refused, or skipped with
// --skip-damaged, and the runs are re-written from their values, never object-copied.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

#include "experiments/src/cli/options.hpp"
#include "experiments/src/io/file_lock.hpp"
#include "experiments/src/io/h5_store.hpp"
#include "experiments/src/io/run_check.hpp"
#include "experiments/src/io/run_file.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::cli {
namespace {

// What identifies a run's result: its attributes (wall_seconds aside) and its loss series.
std::string fingerprint(const io::H5Reader& file, const std::string& run) {
  const std::string where = "/runs/" + run;
  std::string text;
  for (const char* key : {"task", "model", "scale", "optimizer", "status"})
    if (file.has_attr(where, key)) text += std::string(key) + "=" + file.read_string_attr(where, key) + ";";
  for (const char* key : {"d_model", "d_k", "d_v", "seq_len", "batch", "steps", "seed"})
    if (file.has_attr(where, key)) text += std::string(key) + "=" + std::to_string(file.read_int_attr(where, key)) + ";";
  for (const char* key : {"lr", "init_std"}) {
    if (!file.has_attr(where, key)) continue;
    char number[40];
    std::snprintf(number, sizeof number, "%a", file.read_double_attr(where, key));
    text += std::string(key) + "=" + number + ";";
  }
  if (file.exists(where + "/loss"))
    for (double v : file.read_vector(where + "/loss")) {
      char number[40];
      std::snprintf(number, sizeof number, "%a,", v);
      text += number;
    }
  return text;
}

}  // namespace

int run_merge(const Args& args) {
  std::string out;
  std::vector<std::string> inputs;
  double lock_timeout = -1;
  bool skip_damaged = false;
  po::options_description options("merge options");
  options.add_options()("out", po::value(&out), "the merged file (created, or added to)")(
      "in", po::value(&inputs)->multitoken(), "run files to merge")(
      "lock-timeout", po::value(&lock_timeout), "wait at most this many seconds for another process writing OUT (default: as long as it takes)")(
      "skip-damaged", po::bool_switch(&skip_damaged), "merge the intact runs of inputs that hold damaged ones (default: refuse)");
  po::positional_options_description positional;
  positional.add("out", 1).add("in", -1);
  po::variables_map vm;
  if (!parse_options("merge", args, options, vm, "", &positional)) return 0;
  if (out.empty()) throw UserError("sandbox merge: usage: sandbox merge OUT.h5 IN.h5...");
  if (inputs.empty()) throw UserError("sandbox merge: no input files (usage: sandbox merge OUT.h5 IN.h5...)");
  io::silence_hdf5_errors();

  for (const std::string& path : inputs) {
    std::error_code same_error;
    if (std::filesystem::equivalent(path, io::resolve_target(out), same_error)) throw UserError(path + ": is the output file too");
    io::H5Reader in(path);  // one clear line for a missing or non-HDF5 input, before waiting for any lock
  }
  io::check_can_save(out, {}, true);
  // The lock is held from reading OUT to replacing it: a concurrent merge or train adds to our result.
  io::H5Transaction edit(out, lock_timeout);

  // Read and compare everything first, so that a conflict leaves every file untouched.
  struct Source { std::string file, fingerprint; };
  std::map<std::string, Source> chosen;   // run name → where it comes from
  std::map<std::string, std::string> kept;  // runs already in OUT
  {
    const io::H5Reader existing(edit.file(), out);
    if (existing.exists("/runs"))
      for (const std::string& run : existing.list_groups("/runs")) kept[run] = fingerprint(existing, run);
  }
  std::string skipped;  // "in.h5: a (why), ..." for --skip-damaged
  std::size_t skipped_count = 0;
  for (const std::string& path : inputs) {
    io::H5Reader in(path);
    if (!in.has_link("/runs")) throw UserError(path + ": has no /runs group (not a run file)");
    // Every run is validated before anything is read from it for real: a damaged file must not crash us.
    const auto damaged = io::damaged_runs(path);
    for (const auto& [run, problem] : damaged) {
      if (!skip_damaged)
        throw UserError(path + ": run '" + run + "' is damaged (" + problem + ")" +
                        (damaged.size() > 1 ? " and " + std::to_string(damaged.size() - 1) + " more" : "") +
                        "; nothing merged (--skip-damaged merges the intact runs)");
      skipped += (skipped.empty() ? "" : ", ") + path + ": " + run + " (" + problem + ")";
      ++skipped_count;
    }
    for (const std::string& run : in.list_links("/runs")) {
      if (std::any_of(damaged.begin(), damaged.end(), [&](const auto& d) { return d.first == run; })) continue;
      const std::string print = fingerprint(in, run);
      if (auto k = kept.find(run); k != kept.end()) {
        if (k->second != print) throw UserError(path + ": run '" + run + "' differs from the run of that name in " + out);
        continue;
      }
      if (auto c = chosen.find(run); c != chosen.end()) {
        if (c->second.fingerprint != print) throw UserError(path + ": run '" + run + "' differs from the run of that name in " + c->second.file);
        continue;
      }
      chosen[run] = {path, print};
    }
  }

  std::map<std::string, std::unique_ptr<io::H5Reader>> open;
  for (const auto& [run, source] : chosen) {
    auto& reader = open[source.file];
    if (!reader) reader = std::make_unique<io::H5Reader>(source.file);
    // Re-written from the validated values, never copied with HDF5's object copy (which trusts the
    // source's metadata, and crashed on damaged files).
    io::write_run_group(edit.file(), io::load_run(*reader, run));
  }
  // The root attributes describe the merged file: copy them from the first input when OUT is new.
  io::H5Reader first(inputs.front());
  for (const char* key : {"created_utc", "git_commit", "sandbox_version", "eigen_version", "hdf5_version"}) {
    try {
      if (first.has_attr("/", key) && !edit.file().attrExists(key)) io::set_attr(edit.file(), key, first.read_string_attr("/", key));
    } catch (const UserError&) {  // a damaged or odd root attribute of an input is not worth refusing the merge
    }
  }
  edit.commit();
  if (skipped_count > 0) std::fprintf(stderr, "sandbox merge: skipped %zu damaged runs: %s\n", skipped_count, skipped.c_str());
  std::printf("merge: %zu runs added, %zu already in %s\n", chosen.size(), kept.size(), out.c_str());
  return 0;
}

}  // namespace sbx::cli
