#include "experiments/src/train/sweep.hpp"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "experiments/src/io/file_lock.hpp"
#include "experiments/src/io/run_check.hpp"
#include "experiments/src/io/run_file.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx {

std::vector<RunConfig> SweepGrid::expand() const {
  std::vector<RunConfig> runs;
  for (const std::string& task : tasks)
    for (long d_k : d_ks)
      for (const std::string& scale : scales)
        for (long seed : seeds) {
          RunConfig c = base;
          c.task = task;
          c.d_k = d_k;
          c.d_v = base.d_v > 0 ? base.d_v : d_k;
          c.scale = scale;
          c.seed = seed;
          c.run_name.clear();
          runs.push_back(c);
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

SweepPlan plan_sweep(const SweepGrid& grid, const Shard& shard, const std::string& out_path, double lock_timeout) {
  SweepPlan plan;
  std::map<std::string, std::string> status;
  const std::string target = io::resolve_target(out_path);
  if (std::filesystem::exists(target)) {
    // Shared: other planners may read at the same time, but no writer replaces the file meanwhile.
    const io::FileLock lock(target, io::FileLock::Mode::Shared, lock_timeout);
    const io::H5Reader reader(target);
    // Every run is validated: a damaged one (a flipped bit, a loss series of the wrong type or length)
    // is redone, not skipped because its status attribute still reads "complete".
    plan.damaged = io::damaged_runs(target);
    if (reader.has_link("/runs"))
      for (const std::string& name : reader.list_links("/runs"))
        if (std::none_of(plan.damaged.begin(), plan.damaged.end(), [&](const auto& d) { return d.first == name; }))
          status[name] = reader.read_string_attr("/runs/" + name, "status");
  }
  const std::vector<RunConfig> all = grid.expand();
  for (size_t i = 0; i < all.size(); ++i) {
    if (static_cast<long>(i % static_cast<size_t>(shard.count)) != shard.index) continue;
    all[i].validate();
    const auto found = status.find(all[i].name());
    // A diverged run would diverge again (runs are deterministic): it is a result, kept like a complete one.
    if (found != status.end() && (found->second == "complete" || found->second == "diverged")) {
      plan.skipped.push_back(all[i].name());
      if (found->second == "diverged") plan.diverged.push_back(all[i].name());
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
  std::atomic<size_t> next{0};
  std::mutex mutex;
  std::condition_variable finished_cv;
  std::deque<std::pair<size_t, RunOutcome>> finished;
  std::exception_ptr worker_error;

  size_t running = 0;  // workers that have not returned yet (guarded by mutex)
  // Set when this thread fails (a save that throws): the workers stop like on SIGINT, so that they can be
  // joined before the error propagates (destroying a joinable std::thread would abort the process).
  std::atomic<bool> aborted{false};
  auto stop = [&] { return aborted.load() || should_stop(); };
  auto worker = [&] {
    for (;;) {
      const size_t i = next.fetch_add(1);
      if (i >= total || stop()) break;  // stopped: take no new run
      try {
        RunOutcome outcome = train_run(plan.to_run[i], stop);
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
        on_progress(progress);
        pending.push_back(std::move(outcome.record));
        lock.lock();
      }
      lock.unlock();
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
  if (saver.failed()) throw UserError(saver.error());
  return statuses;
}

}  // namespace sbx
