#include "experiments/src/train/sweep.hpp"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <sstream>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "experiments/src/io/file_lock.hpp"
#include "experiments/src/train/batch_streams.hpp"
#include "experiments/src/io/run_check.hpp"
#include "experiments/src/io/run_file.hpp"
#include "experiments/src/train/option_table.hpp"
#include "experiments/src/train/run_identity.hpp"
#include "experiments/src/train/stop_signal.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx {

namespace {

// "2 interrupted: a, b" / "0 never started"; at most 5 names, then "and N more".
std::string name_list(const std::vector<std::string>& names, const std::string& what) {
  std::string text = std::to_string(names.size()) + " " + what;
  for (size_t i = 0; i < names.size() && i < 5; ++i) text += (i == 0 ? ": " : ", ") + names[i];
  if (names.size() > 5) text += " and " + std::to_string(names.size() - 5) + " more";
  return text;
}

// How many runs the axes of one block make.
std::size_t grid_size(const std::vector<GridAxis>& axes) {
  std::size_t runs = 1;
  for (const GridAxis& axis : axes) runs *= axis.values.size();  // each product stays <= kMaxGridRuns
  return runs;
}

std::string block_name(const GridBlock& block, size_t index) {
  return "[grid] block " + std::to_string(index + 1) + (block.where.empty() ? "" : " (" + block.where + ")");
}

}  // namespace

void SweepGrid::add_block(const std::string& where) { blocks.push_back(GridBlock{where, {}}); }

std::size_t SweepGrid::size() const {
  std::size_t runs = blocks.empty() ? 1 : 0;
  for (const GridBlock& block : blocks) runs += grid_size(block.axes);
  return runs;
}

void SweepGrid::add_axis(const std::string& key, const std::string& list, const std::string& where) {
  if (blocks.empty()) add_block("");
  std::vector<GridAxis>& axes = blocks.back().axes;
  const RunOption* option = find_run_option(key);
  if (!option) throw UserError(where + ": unknown option '" + key + "'" + unknown_option_hint(key));
  for (const GridAxis& axis : axes)
    if (axis.key == option->key) throw UserError(where + ": " + option->key + " is given twice");
  std::string spaced = list;
  for (char& c : spaced)
    if (c == ',') c = ' ';
  std::istringstream in(spaced);
  GridAxis axis{option->key, {}};
  const std::size_t others = grid_size(axes);
  const std::size_t earlier = size() - others;  // the runs of the blocks before this one
  std::set<std::string> seen;  // a set, not a scan of the values so far: a long axis parses in n log n
  for (std::string item; in >> item;) {
    // A sweep's SIGINT handler is installed before the grid is read: a huge list stops when asked to (a short
    // one is read whole, and the sweep then stops as it would at any other moment, saying so in its usual way).
    if (axis.values.size() >= 1024 && axis.values.size() % 1024 == 0 && stop_requested()) throw GridReadStopped(where + ": interrupted while reading the grid");
    if ((axis.values.size() + 1) * others + earlier > kMaxGridRuns)
      throw UserError(where + ": the grid would have more than " + std::to_string(kMaxGridRuns) + " runs (" + option->key +
                      " lists more than " + std::to_string(axis.values.size()) + " values); split it into several sweeps");
    RunConfig probe = base;
    try {
      set_option(probe, *option, item);
    } catch (const UserError& e) {
      throw UserError(where + ": " + e.what());
    }
    std::string canonical = option_text(probe, *option);  // 0.01 and 1e-2 are the same value
    if (!seen.insert(canonical).second) throw UserError(where + ": " + option->key + " lists the value " + item + " twice");
    axis.values.push_back(std::move(canonical));
  }
  if (axis.values.empty()) throw UserError(where + ": " + option->key + " has no values");
  axes.push_back(std::move(axis));
  // Keep the axes in table order, whatever order they were given in.
  auto rank = [](const GridAxis& a) {
    const auto& table = run_options();
    for (size_t i = 0; i < table.size(); ++i)
      if (a.key == table[i].key) return i;
    return table.size();
  };
  std::stable_sort(axes.begin(), axes.end(), [&](const GridAxis& a, const GridAxis& b) { return rank(a) < rank(b); });
}

std::vector<std::string> SweepGrid::varying_keys(const std::vector<RunConfig>& runs, const std::vector<std::string>& candidates) {
  std::vector<std::string> varying;
  for (const RunOption& o : run_options()) {
    if (std::find(candidates.begin(), candidates.end(), o.key) == candidates.end() || runs.empty()) continue;
    const std::string first = option_text(runs.front(), o);
    if (std::any_of(runs.begin(), runs.end(), [&](const RunConfig& c) { return option_text(c, o) != first; }))
      varying.push_back(o.key);
  }
  return varying;
}

std::vector<RunConfig> SweepGrid::expand() const {
  std::vector<RunConfig> runs;
  std::vector<size_t> block_of;  // the block each run comes from
  std::vector<std::string> axis_keys;
  const std::vector<GridBlock> all_blocks = blocks.empty() ? std::vector<GridBlock>{GridBlock{}} : blocks;
  for (size_t b = 0; b < all_blocks.size(); ++b) {
    const std::vector<GridAxis>& axes = all_blocks[b].axes;
    for (const GridAxis& axis : axes) axis_keys.push_back(axis.key);
    std::vector<size_t> index(axes.size(), 0);  // an odometer over the axes, the last one fastest
    for (;;) {
      RunConfig c = base;
      for (size_t a = 0; a < axes.size(); ++a) set_option(c, *find_run_option(axes[a].key), axes[a].values[index[a]]);
      runs.push_back(c);
      block_of.push_back(b);
      size_t a = axes.size();
      while (a > 0 && ++index[a - 1] == axes[a - 1].values.size()) index[--a] = 0;
      if (a == 0) break;
    }
  }
  // An option is in the default names when it varies over the whole sweep: with one block, the axes of
  // more than one value; with several, also one that each block fixes to another value (the optimizer of
  // an Adam block and an SGD block), so that names stay unique across blocks.
  const std::vector<std::string> varying = varying_keys(runs, axis_keys);
  for (RunConfig& c : runs) c.run_name = name_template.empty() ? default_sweep_name(c, varying) : expand_name_template(name_template, c);
  // Two blocks that give the same run would train it twice: refuse, naming both blocks.
  if (all_blocks.size() > 1) {
    std::map<std::string, size_t> first_with_config;  // by hash: a million configuration texts would take GBs
    for (size_t i = 0; i < runs.size(); ++i) {
      const auto [it, fresh] = first_with_config.emplace(config_hash(config_text(runs[i])), i);
      if (fresh || config_text(runs[i]) != config_text(runs[it->second])) continue;
      const size_t j = it->second;
      if (block_of[i] == block_of[j]) continue;  // within one block: the name check below says why
      throw UserError(block_name(all_blocks[block_of[j]], block_of[j]) + " and " + block_name(all_blocks[block_of[i]], block_of[i]) +
                      " both give the run '" + runs[j].run_name + "' (the same configuration); remove it from one of them");
    }
  }
  // Two runs under one name would overwrite each other: refuse, naming what tells them apart.
  std::map<std::string, size_t> first_with_name;
  for (size_t i = 0; i < runs.size(); ++i) {
    check_run_name(runs[i].run_name);
    const auto [it, fresh] = first_with_name.emplace(runs[i].run_name, i);
    if (fresh) continue;
    const auto difference = first_difference(config_text(runs[i]), config_text(runs[it->second]));
    const size_t j = it->second;
    const std::string blocks_said =
        block_of[i] == block_of[j] ? (all_blocks.size() > 1 ? " of " + block_name(all_blocks[block_of[i]], block_of[i]) : std::string(" of the grid"))
                                   : " of " + block_name(all_blocks[block_of[j]], block_of[j]) + " and " + block_name(all_blocks[block_of[i]], block_of[i]);
    throw UserError("runs " + std::to_string(j) + " and " + std::to_string(i) + blocks_said + " are both named '" +
                    runs[i].run_name + "'" +
                    (difference ? " (they differ in " + difference->key + ": add {" + difference->key + "} to the name template)"
                                : std::string(" (they are the same configuration: a grid value is repeated)")));
  }
  return runs;
}

Shard Shard::parse(const std::string& text) {
  Shard shard;
  const auto slash = text.find('/');
  try {
    if (slash == std::string::npos) throw std::invalid_argument("no slash");
    size_t used = 0;
    shard.index = std::stol(text.substr(0, slash), &used);
    if (used != slash) throw std::invalid_argument("index");
    const std::string count = text.substr(slash + 1);
    shard.count = std::stol(count, &used);
    if (used != count.size()) throw std::invalid_argument("count");
  } catch (const std::exception&) {
    throw UserError("--shard must be i/N with whole numbers, got '" + text + "'");
  }
  if (shard.count < 1 || shard.index < 0 || shard.index >= shard.count)
    throw UserError("--shard i/N needs 0 <= i < N, got '" + text + "'");
  return shard;
}

SweepPlan plan_sweep(const SweepGrid& grid, const Shard& shard, const std::string& out_path, bool overwrite,
                     double lock_timeout, const std::function<bool()>& stop) {
  SweepPlan plan;
  std::map<std::string, io::StoredRun> stored;
  const std::string target = io::resolve_target(out_path);
  if (std::filesystem::exists(target)) {
    // Shared: other planners may read at the same time, but no writer replaces the file meanwhile.
    const io::FileLock lock(target, io::FileLock::Mode::Shared, lock_timeout, stop);
    // Every run is validated: a damaged one (a flipped bit, a loss series of the wrong type or length)
    // is redone, not skipped because its status attribute still reads "complete".
    plan.damaged = io::damaged_runs(target);
    for (io::StoredRun& run : io::stored_runs(target))
      if (std::none_of(plan.damaged.begin(), plan.damaged.end(), [&](const auto& d) { return d.first == run.name; }))
        stored[run.name] = std::move(run);
  }
  const std::vector<RunConfig> all = grid.expand();
  for (size_t i = 0; i < all.size(); ++i) {
    if (static_cast<long>(i % static_cast<size_t>(shard.count)) != shard.index) continue;
    all[i].validate();
    const auto found = stored.find(all[i].name());
    if (found == stored.end()) {
      plan.to_run.push_back(all[i]);
      continue;
    }
    if (const auto conflict = identity_conflict(out_path, found->second, config_text(all[i]))) {
      if (!overwrite) throw UserError(*conflict);
      plan.to_run.push_back(all[i]);
      continue;
    }
    // A diverged run would diverge again (runs are deterministic): it is a result, kept like a complete one.
    const std::string& status = found->second.status;
    if (status == "complete" || status == "diverged") {
      plan.skipped.push_back(all[i].name());
      if (status == "diverged") plan.diverged.push_back(all[i].name());
    } else {
      plan.to_run.push_back(all[i]);
    }
  }
  return plan;
}

std::vector<RunStatus> run_sweep(const SweepPlan& plan, const std::string& out_path, const io::SaveOptions& save_options, int jobs,
                                 const std::function<bool()>& should_stop,
                                 const std::function<void(const SweepProgress&)>& on_progress,
                                 double save_every_seconds) {
  const size_t total = plan.to_run.size();
  std::vector<RunStatus> statuses(total, RunStatus::Interrupted);
  std::unique_ptr<std::atomic<bool>[]> started(new std::atomic<bool>[total]());  // which runs a worker began
  std::atomic<size_t> next{0};
  std::atomic<long> steps_done{0};
  std::mutex mutex;
  std::condition_variable finished_cv;
  std::deque<std::pair<size_t, RunOutcome>> finished;
  std::exception_ptr worker_error;

  size_t running = 0;  // workers that have not returned yet (guarded by mutex)
  // Set when this thread fails (a save that throws): the workers stop like on SIGINT, so that they can be
  // joined before the error propagates (destroying a joinable std::thread would abort the process).
  std::atomic<bool> aborted{false};
  auto stop = [&] { return aborted.load() || should_stop(); };
  // The runs share their gradient checks: one per distinct small model form and seed (gradcheck_cache.hpp).
  GradcheckCache gradcheck_cache;
  BatchStreams batch_streams;  // and their data (batch_streams.hpp)
  RunHooks hooks;
  hooks.gradcheck_cache = &gradcheck_cache;
  hooks.batch_streams = &batch_streams;
  auto worker = [&] {
    for (;;) {
      const size_t i = next.fetch_add(1);
      if (i >= total || stop()) break;  // stopped: take no new run
      started[i].store(true);
      try {
        RunOutcome outcome = train_run(plan.to_run[i], stop, [&](long, double) { steps_done.fetch_add(1); }, hooks);
        std::lock_guard lock(mutex);
        finished.emplace_back(i, std::move(outcome));
      } catch (...) {
        std::lock_guard lock(mutex);
        if (!worker_error) worker_error = std::current_exception();
      }
      finished_cv.notify_one();
    }
    std::lock_guard lock(mutex);
    --running;
    finished_cv.notify_one();
  };
  const int threads = std::max(1, std::min<int>(jobs, static_cast<int>(std::max<size_t>(total, 1))));
  running = static_cast<size_t>(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);

  // This thread is the only one that writes HDF5: it collects finished runs and saves them in batches.
  std::vector<io::RunRecord> pending;
  io::RunSaver saver(out_path, save_options);
  auto last_save = std::chrono::steady_clock::now();
  auto save = [&] {
    if (pending.empty()) return;
    saver.save(pending, /*overwrite=*/true);  // planned runs are new or being redone
    if (saver.failed()) aborted.store(true);  // the batch is in the fallback file: stop, keep what finishes
    pending.clear();
    last_save = std::chrono::steady_clock::now();
  };
  SweepProgress progress;
  progress.total = total;
  for (const RunConfig& c : plan.to_run) progress.steps_total += c.steps;
  try {
    std::unique_lock lock(mutex);
    while (running > 0 || !finished.empty()) {
      finished_cv.wait_for(lock, std::chrono::milliseconds(250), [&] { return !finished.empty() || running == 0; });
      while (!finished.empty()) {
        auto [i, outcome] = std::move(finished.front());
        finished.pop_front();
        lock.unlock();
        statuses[i] = outcome.status;
        progress.done += 1;
        progress.last = &outcome;
        progress.steps_done = steps_done.load();
        on_progress(progress);
        progress.last = nullptr;
        for (const auto& [key, value] : plan.provenance) outcome.record.set(key, value);
        pending.push_back(std::move(outcome.record));
        lock.lock();
      }
      lock.unlock();
      progress.steps_done = steps_done.load();
      on_progress(progress);  // a periodic update while runs are in flight
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - last_save).count() >= save_every_seconds) save();
      lock.lock();
    }
  } catch (...) {
    aborted.store(true);
    for (std::thread& t : pool) t.join();
    throw;
  }
  for (std::thread& t : pool) t.join();
  save();
  if (worker_error) std::rethrow_exception(worker_error);
  if (saver.failed()) {
    // Which runs the failed save cost: a resume needs to know what is still to do.
    std::vector<std::string> interrupted, not_started;
    for (size_t i = 0; i < total; ++i) {
      if (!started[i].load()) not_started.push_back(plan.to_run[i].name());
      else if (statuses[i] == RunStatus::Interrupted) interrupted.push_back(plan.to_run[i].name());
    }
    throw UserError(saver.error() + "; of the " + std::to_string(total) + " runs to do, " +
                    std::to_string(total - interrupted.size() - not_started.size()) + " finished; " +
                    name_list(interrupted, "interrupted") + "; " + name_list(not_started, "never started") +
                    "; the same sweep command redoes these once there is room");
  }
  return statuses;
}

}  // namespace sbx
