// `sandbox sweep`: a grid of runs from an INI file into one HDF5 file, resumable, parallel and shardable.
//
// The INI file has these sections:
//   [grid]   any `sandbox train` option with a list of values: lr = 0.001 0.003 0.01   dk = 8, 16
//            (may come several times: each block is a product of its own, and the sweep is their union)
//   [run]    any `sandbox train` option with one value: d-model = 64, steps = 200
//   [sweep]  name = a run-name template, e.g. {task}-dk{dk}-{scale}-lr{lr}-s{seed}
// Options in neither section take the defaults of `sandbox train`; keys in either spelling (d-model,
// d_model). On the command line, --grid.KEY (in every block) and --run.KEY override the file.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <thread>

#include "experiments/src/bench/sweep_estimate.hpp"
#include "experiments/src/cli/grid_file.hpp"
#include "experiments/src/cli/progress_line.hpp"
#include "experiments/src/cli/run_options.hpp"
#include "experiments/src/io/layout.hpp"
#include "experiments/src/io/file_lock.hpp"
#include "experiments/src/io/run_file.hpp"
#include "experiments/src/train/stop_signal.hpp"
#include "experiments/src/train/sweep.hpp"
#include "experiments/src/text.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::cli {
namespace {

// key → (value, where it was given), from the file and then from the command line (which wins).
using Values = std::map<std::string, std::pair<std::string, std::string>>;

}  // namespace

SweepGrid build_grid(const std::string& config_file, const po::variables_map& vm, std::string name_template,
                     GridSource* source_out) {
  GridSource unused;
  GridSource& source = source_out ? *source_out : unused;
  // Keys in their canonical spelling (d_model is d-model), so that both spellings of one option clash.
  Values run;
  struct Block {
    std::string where;
    Values axes;
  };
  std::vector<Block> blocks;
  if (!name_template.empty()) source.overrides += "--name=" + name_template + "\n";
  if (!config_file.empty()) {
    const IniFile ini = read_ini(config_file, {"grid", "run", "sweep"}, {"grid"});
    source.ini = ini.text;
    std::map<int, size_t> block_at_line;  // a [grid] header's line → its block
    for (const IniHeader& header : ini.headers)
      if (header.section == "grid") {
        block_at_line[header.line] = blocks.size();
        blocks.push_back({config_file + ":" + std::to_string(header.line), {}});
      }
    for (const IniEntry& e : ini.entries) {
      if (e.section == "sweep") {
        if (e.key != "name") throw UserError(ini.where(e) + ": unknown key '" + e.key + "' in [sweep] (it takes name)");
        if (name_template.empty()) name_template = e.value;
        continue;
      }
      const RunOption* option = find_run_option(e.key);
      if (!option && !is_no_gradcheck(e.key))
        throw UserError(ini.where(e) + ": unknown option '" + e.key + "' in [" + e.section + "]" + unknown_option_hint(e.key));
      const std::string key = option ? option->key : "no-gradcheck";
      Values& into = e.section == "grid" ? blocks[block_at_line.at(e.header_line)].axes : run;
      if (const auto twice = into.find(key); twice != into.end())
        throw UserError(ini.where(e) + ": " + key + " is given twice in [" + e.section + "] (also at " + twice->second.second +
                        "; d-model and d_model are one option)");
      into[key] = {e.value, ini.where(e)};
    }
  }
  for (const char* prefix : {"run.", "grid."})
    for (const auto& [key, value] : given_run_options(vm, prefix)) {
      const std::string where = "--" + std::string(prefix) + key;
      if (std::string(prefix) == "run.") {
        run[key] = {value, where};
      } else {
        // An axis from the command line replaces that axis in every block (or adds it to each).
        if (blocks.empty()) blocks.push_back({"", {}});
        for (Block& block : blocks) block.axes[key] = {value, where};
      }
      source.overrides += where + "=" + value + "\n";
    }

  SweepGrid result;
  result.name_template = name_template;
  for (const auto& [key, given] : run) {
    const std::string canonical = key == "no-gradcheck" ? "gradcheck" : key;
    for (const Block& block : blocks)
      if (block.axes.count(canonical))
        throw UserError(given.second + ": " + canonical + " is both a fixed [run] setting and a [grid] axis (" +
                        block.axes.at(canonical).second + "); give it in one place");
    apply_run_option(result.base, key, given.first, given.second);
  }
  for (const Block& block : blocks) {
    // With several blocks, an empty one would add the single run of the fixed settings: most likely a
    // block whose keys were meant to be there.
    if (block.axes.empty() && blocks.size() > 1)
      throw UserError(block.where + ": this [grid] block has no keys (each of several [grid] blocks needs at least one)");
    result.add_block(block.where);
    for (const auto& [key, given] : block.axes) {
      if (key == "no-gradcheck") throw UserError(given.second + ": use gradcheck = true false as a grid axis");
      result.add_axis(key, given.first, given.second);
    }
  }
  return result;
}

namespace {

// Seconds with three significant digits below 100 ("0.0421", "3.17", "42.5"), whole ones above ("1234").
std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, seconds < 100 ? "%.3g" : "%.0f", seconds);
  return text;
}

// `sweep --dry-run`: the runs this shard would do, one line each (its name and the settings that tell the
// runs apart) and its estimated time, then the settings every run shares that are not train's defaults.
// Reads and writes no run file; the estimate trains short probes of each distinct kind of run in memory.
void print_dry_run(const SweepGrid& grid, const Shard& shard, const std::string& config_file, int jobs) {
  const std::vector<RunConfig> all = grid.expand();
  std::vector<std::string> axis_keys;
  for (const GridBlock& block : grid.blocks)
    for (const GridAxis& axis : block.axes) axis_keys.push_back(axis.key);
  const std::vector<std::string> varying = SweepGrid::varying_keys(all, axis_keys);
  // The block of run i: blocks give their runs one after another.
  std::vector<size_t> block_end;
  size_t end = 0;
  for (const GridBlock& block : grid.blocks) {
    size_t runs = 1;
    for (const GridAxis& axis : block.axes) runs *= axis.values.size();
    block_end.push_back(end += runs);
  }
  size_t width = 0, count = 0;
  long steps = 0;
  std::vector<size_t> mine;
  for (size_t i = 0; i < all.size(); ++i) {
    if (static_cast<long>(i % static_cast<size_t>(shard.count)) != shard.index) continue;
    all[i].validate();
    mine.push_back(i);
    width = std::max(width, all[i].name().size());
    steps += all[i].steps;
    ++count;
  }
  const size_t blocks = std::max<size_t>(1, grid.blocks.size());
  std::printf("sweep --dry-run: %zu runs%s from %zu [grid] block%s of %s, %ld optimizer steps in all; nothing is run, read or written\n",
              count, shard.count > 1 ? (" (shard " + std::to_string(shard.index) + "/" + std::to_string(shard.count) + ")").c_str() : "",
              blocks, blocks == 1 ? "" : "s", config_file.c_str(), steps);
  std::fflush(stdout);  // the list first: the estimate below takes a moment
  std::vector<RunConfig> listed;
  for (const size_t i : mine) listed.push_back(all[i]);
  const bench::SweepEstimate estimate = bench::estimate_sweep(listed, jobs);
  // Seconds in full next to the short form, so that a script (and the test) can read them.
  std::printf("estimated time: %s (%s s) with --jobs %d, %s CPU-s in all: an estimate on this machine under its current load (load %.1f on %u cores; "
              "this thread got %.0f%% of a core), from timing short runs of the %zu distinct kinds of run in %.1f s; "
              "it assumes the load stays, no run stops early, and leaves out saving the runs\n",
              format_duration(estimate.wall).c_str(), seconds_text(estimate.wall).c_str(), estimate.jobs,
              seconds_text(estimate.total_cpu).c_str(), estimate.load,
              estimate.cores, 100 * estimate.core_share, estimate.distinct_costs, estimate.probing_seconds);
  for (size_t k = 0; k < mine.size(); ++k) {
    const size_t i = mine[k];
    std::string settings;
    for (const std::string& key : varying) settings += " " + key + "=" + option_text(all[i], *find_run_option(key));
    const size_t block = static_cast<size_t>(std::upper_bound(block_end.begin(), block_end.end(), i) - block_end.begin());
    std::printf("  %-*s %s%s  ~%ss\n", static_cast<int>(width), all[i].name().c_str(),
                blocks > 1 ? ("block " + std::to_string(block + 1) + ":").c_str() : "", settings.c_str(),
                seconds_text(estimate.run_seconds[k]).c_str());
  }
  const RunConfig defaults;
  std::string shared;
  for (const RunOption& o : run_options()) {
    if (all.empty() || std::find(varying.begin(), varying.end(), o.key) != varying.end()) continue;
    const std::string value = option_text(all.front(), o);
    if (value != option_text(defaults, o)) shared += " " + std::string(o.key) + "=" + value;
  }
  std::printf("every run:%s\n", shared.empty() ? " train's defaults" : shared.c_str());
}

}  // namespace

int run_sweep(const Args& args) {
  // From the first instant: a SIGINT during start-up or planning then ends the sweep with exit 130 too,
  // instead of killing it.
  install_stop_handlers();
  std::string config_file, out, shard_text = "0/1", name_template;
  int jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  bool quiet = false, overwrite = false, dry_run = false;
  io::SaveOptions save_options;
  po::options_description options("sweep options");
  options.add_options()
      ("config", po::value(&config_file), "INI file with [grid], [run] and [sweep] sections")
      ("out", po::value(&out), "HDF5 file the runs are added to (created if missing)")
      ("jobs", po::value(&jobs)->default_value(jobs), "runs in parallel (default: all cores)")
      ("shard", po::value(&shard_text)->default_value(shard_text), "run only part i of N of the grid, as i/N")
      ("name", po::value(&name_template), "run-name template (overrides [sweep] name), e.g. {task}-lr{lr}-s{seed}")
      ("overwrite", po::bool_switch(&overwrite), "redo runs whose stored configuration differs from the grid's")
      ("quiet", po::bool_switch(&quiet), "print only the final line")
      ("dry-run", po::bool_switch(&dry_run), "list the runs (names and the settings that tell them apart) with an estimate of their time on this machine, and stop: nothing is saved, and no file is read or written but the INI")
      ("lock-timeout", po::value(&save_options.lock_timeout), "wait at most this many seconds for another process writing --out (default: as long as it takes)")
      ("fallback-out", po::value(&save_options.fallback_out), "where finished runs go if --out cannot take them (default: sandbox-unsaved-<time>-<pid>.h5 next to --out)");
  po::options_description run_options_section("fixed settings (INI [run]); each also as --grid.KEY with a list of values (INI [grid])");
  add_run_options(run_options_section, "run.");
  po::options_description grid_options_section("grid axes");
  add_run_options(grid_options_section, "grid.");
  options.add(run_options_section);
  options.add(grid_options_section);
  po::variables_map vm;
  if (!parse_options("sweep", args, options, vm)) return 0;
  if (config_file.empty()) throw UserError("sandbox sweep: --config FILE.ini is required");
  if (out.empty() && !dry_run) throw UserError("sandbox sweep: --out FILE.h5 is required");
  if (jobs < 1 || jobs > 1024) throw UserError("sandbox sweep: --jobs must be in 1..1024");
  GridSource source;
  SweepGrid grid;
  try {
    grid = build_grid(config_file, vm, name_template, &source);
  } catch (const GridReadStopped&) {  // Ctrl-C while a huge grid is read: nothing ran yet
    std::fprintf(stderr, "sandbox sweep: interrupted while reading the grid; nothing was run\n");
    return 130;
  }
  const Shard shard = Shard::parse(shard_text);
  if (dry_run) {
    print_dry_run(grid, shard, config_file, jobs);
    return 0;
  }

  io::check_can_save(out, {}, true);
  SweepPlan plan;
  try {
    plan = plan_sweep(grid, shard, out, overwrite, save_options.lock_timeout, stop_requested);  // validates every run's configuration
  } catch (const io::LockWaitStopped&) {  // Ctrl-C while another process holds --out: nothing ran yet
    std::fprintf(stderr, "sandbox sweep: interrupted while waiting for %s; nothing was run\n", out.c_str());
    return 130;
  }
  plan.provenance = {{io::layout::run::sweep_ini, source.ini}, {io::layout::run::sweep_overrides, source.overrides}};
  save_options.rebuild_damaged = !plan.damaged.empty();  // the first save writes the file anew without them
  if (!quiet) {
    std::string done = std::to_string(plan.skipped.size() - plan.diverged.size()) + " already complete";
    if (!plan.diverged.empty()) done += ", " + std::to_string(plan.diverged.size()) + " already diverged";
    if (!plan.damaged.empty())
      done += ", " + std::to_string(plan.damaged.size()) + " damaged (redone if in this grid; first: " +
              printable(plan.damaged.front().first + ": " + plan.damaged.front().second) + ")";  // names from a damaged file
    std::printf("sweep: %zu runs to do, %s in %s, %d jobs\n", plan.to_run.size(), done.c_str(), out.c_str(), jobs);
  }
  std::fflush(stdout);

  const bool terminal = ::isatty(STDOUT_FILENO) == 1;
  ProgressLine line(!quiet, terminal);
  const auto started = std::chrono::steady_clock::now();
  const auto statuses = run_sweep(plan, out, save_options, jobs, stop_requested, [&](const SweepProgress& p) {
    // Off a terminal, a line when runs finish (at most one a second), and while long runs are in flight
    // one every 10 seconds.
    if (!p.last && !line.terminal() && line.seconds_since_print() < 10.0) return;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const double fraction = p.steps_total > 0 ? static_cast<double>(p.steps_done) / static_cast<double>(p.steps_total) : 0.0;
    const double eta = fraction > 0 ? seconds * (1.0 - fraction) / fraction : NAN;
    char text[256];
    std::snprintf(text, sizeof text, "  [%zu/%zu runs] %.1f runs/s, %s elapsed, ETA %s%s%s", p.done, p.total,
                  seconds > 0 ? static_cast<double>(p.done) / seconds : 0.0, format_duration(seconds).c_str(),
                  format_duration(eta).c_str(), p.last ? "  last: " : "",
                  p.last ? (p.last->record.name + " (" + status_name(p.last->status) + ")").c_str() : "");
    line.update(text, p.done == p.total && p.last);
  });
  line.finish();
  size_t complete = 0, diverged = 0;
  for (RunStatus s : statuses) {
    complete += s == RunStatus::Complete;
    diverged += s == RunStatus::Diverged;
  }
  const size_t interrupted = statuses.size() - complete - diverged;
  std::printf("sweep: %zu complete, %zu diverged, %zu interrupted or not started, %zu skipped; %.1f s; saved to %s\n",
              complete, diverged, interrupted, plan.skipped.size(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), out.c_str());
  if (stop_requested()) {
    std::fprintf(stderr, "sandbox sweep: interrupted; finished runs were saved, rerun the same command to complete\n");
    return 130;
  }
  return 0;
}

}  // namespace sbx::cli
