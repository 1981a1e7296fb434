// `sandbox merge OUT.h5 IN.h5...`: gathers the runs of several run files (e.g. the shards of a sweep)
// into one. A name found twice is accepted only when both copies are the same run (same attributes but
// wall_seconds and provenance, same series); two different runs under one name are refused and nothing is written.
// Inputs are validated run by run first (io/run_check.hpp): a damaged run is refused, or skipped with
// --skip-damaged, and the runs are re-written from their values, never object-copied.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

#include "experiments/src/cli/commands.hpp"
#include "experiments/src/cli/options.hpp"
#include "experiments/src/io/file_lock.hpp"
#include "experiments/src/io/h5_store.hpp"
#include "experiments/src/io/layout.hpp"
#include "experiments/src/io/run_check.hpp"
#include "experiments/src/io/run_file.hpp"
#include "experiments/src/train/option_table.hpp"
#include "experiments/src/text.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::cli {
namespace {

namespace lo = io::layout;

// What identifies a run's result: its attributes and its series, except what may differ between two
// copies of one deterministic run: its time (wall_seconds, and the checksum, which covers it) and where it
// came from (the layout's provenance attributes, e.g. the sweep's INI text). Numbers in hexadecimal floating point: exact.
std::string fingerprint(const io::H5Reader& file, const std::string& run) {
  const io::RunRecord record = io::load_run(file, run);
  auto number = [](double v) {
    char text[40];
    std::snprintf(text, sizeof text, "%a,", v);
    return std::string(text);
  };
  // In name order: HDF5 may list a group's attributes and datasets in another order in a copy (merge copies
  // runs with H5Ocopy), and the order is not part of the result.
  std::map<std::string, std::string> parts;
  for (const auto& [key, value] : record.attributes) {
    const lo::Entry* entry = lo::find(lo::kRunSection, key, lo::Kind::Attribute);
    if (key == lo::run::wall_seconds || key == lo::run::checksum || (entry && entry->role == lo::Role::Provenance)) continue;
    std::string& text = parts["attribute " + key];
    if (const auto* s = std::get_if<std::string>(&value)) text = *s;
    else if (const auto* i = std::get_if<std::int64_t>(&value)) text = std::to_string(*i);
    else text = number(std::get<double>(value));
  }
  for (const auto& [key, values] : record.series) {
    std::string& text = parts["series " + key];
    for (double v : values) text += number(v);
  }
  for (const auto& [key, values] : record.int_series) {
    std::string& text = parts["series " + key];
    for (std::int64_t v : values) text += std::to_string(v) + ",";
  }
  std::string text;
  for (std::int64_t t : record.steps) text += std::to_string(t) + ",";
  for (const auto& [key, value] : parts) text += ";" + key + "=" + value;
  return text;
}

// What identifies a run: its stored configuration (empty for runs of older versions) and its result.
struct Identity {
  std::string file, config, print;
};

Identity identity_of(const io::H5Reader& file, const std::string& path, const std::string& run) {
  const std::string where = lo::run::path(run);
  return {path, file.has_attr(where, lo::run::config) ? file.read_string_attr(where, lo::run::config) : "", fingerprint(file, run)};
}

// Why `ours` cannot stand under the name `run` next to `theirs`: "" when they are the same run. With
// both configurations stored, the first option that differs is named with both values.
std::string conflict(const std::string& run, const Identity& ours, const Identity& theirs) {
  if (ours.print == theirs.print && ours.config == theirs.config) return "";
  const std::string head = ours.file + ": run '" + run + "' ";
  if (!ours.config.empty() && !theirs.config.empty())
    if (const auto d = first_difference(ours.config, theirs.config))
      return head + "has " + d->key + " = " + d->ours + ", but the run of that name in " + theirs.file + " has " + d->key +
             " = " + d->theirs;
  return head + "differs from the run of that name in " + theirs.file;
}

int merge_in_this_process(const std::string& out, const std::vector<std::string>& inputs, double lock_timeout,
                          bool skip_damaged, bool overwrite);

}  // namespace

int run_merge(const Args& args) {
  std::string out;
  std::vector<std::string> inputs;
  double lock_timeout = -1;
  bool skip_damaged = false, overwrite = false;
  po::options_description options("merge options");
  options.add_options()("out", po::value(&out), "the merged file (created, or added to)")(
      "in", po::value(&inputs)->multitoken(), "run files to merge")(
      "lock-timeout", po::value(&lock_timeout), "wait at most this many seconds for another process writing OUT (default: as long as it takes)")(
      "skip-damaged", po::bool_switch(&skip_damaged), "merge the intact runs of inputs that hold damaged ones (default: refuse)")(
      "overwrite", po::bool_switch(&overwrite), "replace a run of OUT by an input's run of the same name and another configuration");
  po::positional_options_description positional;
  positional.add("out", 1).add("in", -1);
  po::variables_map vm;
  if (!parse_options("merge", args, options, vm, &positional)) return 0;
  if (out.empty()) throw UserError("sandbox merge: usage: sandbox merge OUT.h5 IN.h5...");
  if (inputs.empty()) throw UserError("sandbox merge: no input files (usage: sandbox merge OUT.h5 IN.h5...)");
  io::silence_hdf5_errors();
  // The inputs are validated in child processes, but reading a validated file can still crash inside the
  // HDF5 library (a corrupted global heap; see io/isolated.hpp): the merge runs in a child of its own.
  std::string inputs_text;
  for (const std::string& path : inputs) inputs_text += (inputs_text.empty() ? "" : " ") + path;
  return run_in_child("merge", inputs_text, [&] { return merge_in_this_process(out, inputs, lock_timeout, skip_damaged, overwrite); },
                      [&] { io::remove_stale_temps(out); });
}

namespace {

int merge_in_this_process(const std::string& out, const std::vector<std::string>& inputs, double lock_timeout,
                          bool skip_damaged, bool overwrite) {
  std::size_t replaced = 0;
  for (const std::string& path : inputs) {
    std::error_code same_error;
    if (std::filesystem::equivalent(path, io::resolve_target(out), same_error)) throw UserError(path + ": is the output file too");
    io::H5Reader in(path);  // one clear line for a missing or non-HDF5 input, before waiting for any lock
  }
  io::check_can_save(out, {}, true);
  // The lock is held from reading OUT to replacing it: a concurrent merge or train adds to our result.
  io::H5Transaction edit(out, lock_timeout);

  // Read and compare everything first, so that a conflict leaves every file untouched.
  std::map<std::string, Identity> chosen;  // run name → the input it comes from
  std::map<std::string, Identity> kept;    // runs already in OUT
  {
    const io::H5Reader existing(edit.file(), out);
    if (existing.exists(lo::run::group_path))
      for (const std::string& run : existing.list_groups(lo::run::group_path)) kept[run] = identity_of(existing, out, run);
  }
  std::string skipped;  // "in.h5: a (why), ..." for --skip-damaged
  std::size_t skipped_count = 0;
  for (const std::string& path : inputs) {
    io::H5Reader in(path);
    if (!in.has_link(lo::run::group_path)) throw UserError(path + ": has no /runs group (not a run file)");
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
    for (const std::string& run : in.list_links(lo::run::group_path)) {
      if (std::any_of(damaged.begin(), damaged.end(), [&](const auto& d) { return d.first == run; })) continue;
      const Identity ours = identity_of(in, path, run);
      if (auto c = chosen.find(run); c != chosen.end()) {
        // Two inputs disagree: which one is meant is not ours to guess, --overwrite or not.
        if (const std::string why = conflict(run, ours, c->second); !why.empty()) throw UserError(why);
        continue;
      }
      if (auto k = kept.find(run); k != kept.end()) {
        const std::string why = conflict(run, ours, k->second);
        if (why.empty()) continue;
        if (!overwrite) throw UserError(why + " (--overwrite replaces it)");
        kept.erase(k);  // replaced: write_run_group rewrites the group
        ++replaced;
      }
      chosen[run] = ours;
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
  for (const char* key : lo::root::all) {
    try {
      if (first.has_attr("/", key) && !edit.file().attrExists(key)) io::set_attr(edit.file(), key, first.read_string_attr("/", key));
    } catch (const UserError&) {  // a damaged or odd root attribute of an input is not worth refusing the merge
    }
  }
  edit.commit();
  if (skipped_count > 0) std::fprintf(stderr, "sandbox merge: skipped %zu damaged runs: %s\n", skipped_count, printable(skipped).c_str());
  std::printf("merge: %zu runs added%s, %zu already in %s\n", chosen.size(),
              replaced ? (" (" + std::to_string(replaced) + " replacing runs of another configuration)").c_str() : "",
              kept.size(), out.c_str());
  return 0;
}

}  // namespace

}  // namespace sbx::cli
