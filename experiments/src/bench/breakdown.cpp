#include "experiments/src/bench/breakdown.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <unistd.h>

#include "experiments/src/io/run_saver.hpp"
#include "experiments/src/train/batch_streams.hpp"
#include "experiments/src/train/gradcheck_cache.hpp"
#include "experiments/src/train/trainer.hpp"

namespace sbx::bench {

std::vector<BreakdownGroup> study_breakdown_groups(bool quick) {
  std::vector<BreakdownGroup> groups;
  RunConfig base;
  base.d_model = 32, base.seq_len = 16, base.batch = 16, base.steps = quick ? 20 : 200;
  base.optimizer = "adam", base.lr = 0.01, base.log_every = 1;
  auto add = [&](const std::string& label, RunConfig c) {
    BreakdownGroup g{label, {}};
    for (const char* scale : {"none", "sqrt", "linear", "learned", "qknorm"}) {
      c.scale = scale;
      g.runs.push_back(c);
    }
    groups.push_back(std::move(g));
  };
  for (const char* task : {"teacher", "recall"})
    for (long dk : {8L, 32L, 256L}) {
      RunConfig c = base;
      c.task = task, c.d_k = dk, c.d_v = dk;
      add(std::string(task) + " dk=" + std::to_string(dk), c);
    }
  for (const char* task : {"teacher", "recall"}) {
    RunConfig c = base;
    c.task = task, c.d_model = 64, c.heads = 4, c.d_k = 16, c.d_v = 16;
    add(std::string(task) + " h=4 dm=64 dk=16", c);
  }
  return groups;
}

std::vector<BreakdownGroup> group_by_task_and_dk(const std::vector<RunConfig>& runs) {
  std::vector<BreakdownGroup> groups;
  std::map<std::string, size_t> index;
  for (const RunConfig& c : runs) {
    const std::string label = c.task + " dk=" + std::to_string(c.resolved().d_k) + (c.heads > 1 ? " h=" + std::to_string(c.heads) : "");
    const auto [it, fresh] = index.emplace(label, groups.size());
    if (fresh) groups.push_back({label, {}});
    groups[it->second].runs.push_back(c);
  }
  return groups;
}

std::vector<BreakdownRow> run_breakdown(const std::vector<BreakdownGroup>& groups) {
  std::vector<BreakdownRow> rows;
  GradcheckCache shared;  // as in a sweep: one check per distinct small model form and seed,
  BatchStreams streams;   // and one batch stream per distinct data
  const std::filesystem::path scratch =
      std::filesystem::temp_directory_path() / ("sandbox-breakdown-" + std::to_string(::getpid()) + ".h5");
  for (const BreakdownGroup& g : groups) {
    BreakdownRow row{g.label, {}, 0.0};
    RunHooks hooks;
    hooks.gradcheck_cache = &shared;
    hooks.batch_streams = &streams;
    hooks.profile = &row.profile;
    std::vector<io::RunRecord> records;
    for (const RunConfig& c : g.runs) records.push_back(train_run(c, [] { return false; }, nullptr, hooks).record);
    PhaseClock clock;
    io::RunSaver saver(scratch.string(), io::SaveOptions{});
    saver.save(records, /*overwrite=*/true);
    clock.lap(row.save_seconds);
    rows.push_back(row);
  }
  std::error_code ignored;
  std::filesystem::remove(scratch, ignored);
  return rows;
}

void print_breakdown(std::FILE* out, const std::vector<BreakdownRow>& rows) {
  std::fprintf(out, "\nwhere a run's time goes (CPU us of its thread per run; gradient checks and batches shared as in a sweep)\n");
  std::fprintf(out, "%-24s %5s | %9s %9s %9s %9s %9s %9s %9s %9s %9s | %9s %10s %8s\n", "runs", "n", "gradcheck", "setup", "batch",
               "step", "metrics", "probe", "eval", "other", "save", "total", "runs/cpu-s", "run/step");
  RunProfile all;
  double all_save = 0.0;
  auto line = [&](const std::string& label, const RunProfile& p, double save) {
    const double n = static_cast<double>(std::max(p.runs, 1L)), us = 1e6 / n;
    const double other = p.total - p.gradcheck - p.setup - p.batch - p.step - p.metrics - p.probe - p.evaluation;
    const double total = p.total + save;
    // run/step: the whole run (everything in the row) over its steps alone.
    std::fprintf(out, "%-24s %5ld | %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f | %9.0f %10.1f %8.2f\n", label.c_str(),
                 p.runs, p.gradcheck * us, p.setup * us, p.batch * us, p.step * us, p.metrics * us, p.probe * us,
                 p.evaluation * us, other * us, save * us, total * us, total > 0 ? n / total : 0.0,
                 p.step > 0 ? total / p.step : std::nan(""));
  };
  for (const BreakdownRow& r : rows) {
    line(r.label, r.profile, r.save_seconds);
    all += r.profile;
    all_save += r.save_seconds;
  }
  line("all", all, all_save);
  const double phases = all.total + all_save;
  if (phases > 0)
    std::fprintf(out, "share of all: gradcheck %.0f%%, setup %.0f%%, batch %.0f%%, step %.0f%%, metrics %.0f%%, probe %.0f%%, eval %.0f%%, save %.0f%%\n",
                 100 * all.gradcheck / phases, 100 * all.setup / phases, 100 * all.batch / phases, 100 * all.step / phases,
                 100 * all.metrics / phases, 100 * all.probe / phases, 100 * all.evaluation / phases, 100 * all_save / phases);
}

}  // namespace sbx::bench
