// `sandbox sweep`: a grid of runs from an INI file into one HDF5 file, resumable, parallel and shardable.
//
// The INI file has two sections:
//   [grid]  task = teacher recall      dk = 1 2 4 8      scale = none sqrt      seed = 0 1 2
//   [run]   any `sandbox train` option, e.g. d-model = 64, steps = 200, lr = 0.01
// (lists are separated by spaces or commas; dv, when not set, follows dk).
#include <chrono>
#include <cstdio>
#include <sstream>
#include <thread>

#include "experiments/src/cli/run_options.hpp"
#include "experiments/src/io/run_file.hpp"
#include "experiments/src/train/stop_signal.hpp"
#include "experiments/src/train/sweep.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::cli {
namespace {

std::vector<std::string> split_list(const std::string& key, const std::string& text) {
  std::string spaced = text;
  for (char& c : spaced)
    if (c == ',') c = ' ';
  std::istringstream in(spaced);
  std::vector<std::string> items;
  for (std::string item; in >> item;) items.push_back(item);
  if (items.empty()) throw UserError("sweep config: [grid] " + key + " is empty");
  return items;
}

std::vector<long> split_numbers(const std::string& key, const std::string& text) {
  std::vector<long> numbers;
  for (const std::string& item : split_list(key, text)) {
    size_t used = 0;
    long value = 0;
    try {
      value = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size()) throw UserError("sweep config: [grid] " + key + ": '" + item + "' is not a whole number");
    numbers.push_back(value);
  }
  return numbers;
}

}  // namespace

int run_sweep(const Args& args) {
  // From the first instant: a SIGINT during start-up or planning then ends the sweep with exit 130 too,
  // instead of killing it.
  install_stop_handlers();
  std::string config_file, out, shard_text = "0/1", tasks = "teacher", d_ks, scales = "none sqrt", seeds = "0";
  int jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  bool quiet = false;
  io::SaveOptions save_options;
  SweepGrid grid;
  grid.base.d_v = 0;  // 0: follow d_k
  po::options_description options("sweep options");
  options.add_options()
      ("config", po::value(&config_file), "INI file with a [grid] and a [run] section")
      ("out", po::value(&out), "HDF5 file the runs are added to (created if missing)")
      ("jobs", po::value(&jobs)->default_value(jobs), "runs in parallel (default: all cores)")
      ("shard", po::value(&shard_text)->default_value(shard_text), "run only part i of N of the grid, as i/N")
      ("quiet", po::bool_switch(&quiet), "print only the final line")
      ("lock-timeout", po::value(&save_options.lock_timeout), "wait at most this many seconds for another process writing --out (default: as long as it takes)")
      ("fallback-out", po::value(&save_options.fallback_out), "where finished runs go if --out cannot take them (default: sandbox-unsaved-<time>-<pid>.h5 next to --out)")
      ("grid.task", po::value(&tasks)->default_value(tasks), "tasks (INI [grid] task)")
      ("grid.dk", po::value(&d_ks), "d_k values (INI [grid] dk)")
      ("grid.scale", po::value(&scales)->default_value(scales), "scale modes (INI [grid] scale)")
      ("grid.seed", po::value(&seeds)->default_value(seeds), "seeds (INI [grid] seed)");
  add_run_options(options, grid.base, "run.");
  po::variables_map vm;
  if (!parse_options("sweep", args, options, vm, "config")) return 0;
  finish_run_options(vm, grid.base, "run.");
  if (config_file.empty()) throw UserError("sandbox sweep: --config FILE.ini is required");
  if (out.empty()) throw UserError("sandbox sweep: --out FILE.h5 is required");
  if (d_ks.empty()) throw UserError(config_file + ": [grid] dk is missing");
  if (jobs < 1 || jobs > 1024) throw UserError("sandbox sweep: --jobs must be in 1..1024");
  grid.tasks = split_list("task", tasks);
  grid.scales = split_list("scale", scales);
  grid.d_ks = split_numbers("dk", d_ks);
  grid.seeds = split_numbers("seed", seeds);
  const Shard shard = Shard::parse(shard_text);

  io::check_can_save(out, {}, true);
  const SweepPlan plan = plan_sweep(grid, shard, out, save_options.lock_timeout);  // validates every run's configuration
  save_options.rebuild_damaged = !plan.damaged.empty();  // the first save writes the file anew without them
  if (!quiet) {
    std::string done = std::to_string(plan.skipped.size() - plan.diverged.size()) + " already complete";
    if (!plan.diverged.empty()) done += ", " + std::to_string(plan.diverged.size()) + " already diverged";
    if (!plan.damaged.empty())
      done += ", " + std::to_string(plan.damaged.size()) + " damaged (redone if in this grid; first: " + plan.damaged.front().first +
              ": " + plan.damaged.front().second + ")";
    std::printf("sweep: %zu runs to do, %s in %s, %d jobs\n", plan.to_run.size(), done.c_str(), out.c_str(), jobs);
  }
  std::fflush(stdout);

  const auto started = std::chrono::steady_clock::now();
  auto last_print = started;
  const auto statuses = run_sweep(plan, out, save_options, jobs, stop_requested, [&](const SweepProgress& p) {
    const auto now = std::chrono::steady_clock::now();
    if (quiet || (p.done != p.total && std::chrono::duration<double>(now - last_print).count() < 1.0)) return;
    last_print = now;
    std::printf("  [%zu/%zu] %.1f s  last: %s (%s)\n", p.done, p.total,
                std::chrono::duration<double>(now - started).count(), p.last->record.name.c_str(), status_name(p.last->status));
    std::fflush(stdout);
  });
  size_t complete = 0, diverged = 0, interrupted = 0;
  for (RunStatus s : statuses) {
    complete += s == RunStatus::Complete;
    diverged += s == RunStatus::Diverged;
  }
  interrupted = statuses.size() - complete - diverged;
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
