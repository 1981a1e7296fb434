#include "experiments/src/bench/sweep_estimate.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <thread>
#include <utility>

#include "experiments/src/bench/bench.hpp"
#include "experiments/src/train/option_table.hpp"
#include "experiments/src/train/trainer.hpp"

namespace sbx::bench {
namespace {

// The configuration with everything that does not change the work of a step set to one value: runs whose
// probes are equal share a cost. The learning rate is small so that no probe diverges (a diverged probe
// would stop early and look cheap); what the optimizer, the schedule's shape and the sizes cost is kept.
RunConfig probe_config(const RunConfig& c) {
  RunConfig p = c;
  p.seed = 0;
  p.lr = 1e-4;
  p.warmup_steps = 0;
  p.min_lr = 0.0;
  p.run_name.clear();
  p.steps = 1;
  p.log_every = 1;
  p.eval_every = 0;
  p.gradcheck = false;
  p.diverge_factor = 0.0;
  p.save_weights = "none";
  return p;
}

// The faster of two trainings: on a busy machine a probe now and then loses its caches to another process,
// and the differences between probes would carry that noise.
double probe(RunConfig c, long steps, long log_every, long eval_every, bool gradcheck) {
  c.steps = steps, c.log_every = log_every, c.eval_every = eval_every, c.gradcheck = gradcheck;
  double best = 0.0;
  for (int i = 0; i < 2; ++i) {
    const double start = thread_cpu_seconds();
    train_run(c, [] { return false; });
    const double took = thread_cpu_seconds() - start;
    best = i == 0 ? took : std::min(best, took);
  }
  return best;
}

}  // namespace

long logged_steps(long steps, long log_every) {
  if (steps <= 0) return 0;
  const long every = std::max(log_every, 1L);
  return (steps + every - 1) / every + ((steps - 1) % every != 0 ? 1 : 0);
}

long evaluations(long steps, long eval_every) {
  return 2 + (eval_every > 0 && steps > 0 ? (steps - 1) / eval_every : 0);
}

double run_cpu_seconds(const RunConfig& c, const RunCost& cost) {
  const long logged = logged_steps(c.steps, c.log_every);
  return cost.fixed + static_cast<double>(logged) * cost.logged_step +
         static_cast<double>(c.steps - logged) * cost.unlogged_step +
         static_cast<double>(evaluations(c.steps, c.eval_every)) * cost.evaluation + (c.gradcheck ? cost.gradcheck : 0.0);
}

RunCost measure_run_cost(const RunConfig& config) {
  const RunConfig c = probe_config(config);
  // A warm-up run (caches, the corpus of a text task, the allocator), which also sizes the probes: `a`
  // steps of about 5 ms, so that the differences below stand well above the clock's and the cache's noise.
  const double warm = probe(c, 4, 1, 0, false);
  const long a = std::clamp(static_cast<long>(0.005 / std::max(warm / 4.0, 1e-7)), 8L, 500L);
  const double da = static_cast<double>(a);
  // Each probe below, by what it is made of (f fixed, l logged step, u unlogged step, e evaluation):
  const double A = probe(c, a, 1, 0, false);          // f + a·l + 2e
  const double B = probe(c, 2 * a, 1, 0, false);      // f + 2a·l + 2e
  const double C = probe(c, 2 * a, 2 * a, 0, false);  // f + 2l + (2a − 2)·u + 2e   (steps 0 and 2a − 1 logged)
  const long every = std::max(1L, a / 4);             // a few evaluations: each costs several steps
  const double D = probe(c, a, 1, every, false);      // f + a·l + evaluations(a, every)·e
  const double G = config.gradcheck ? probe(c, a, 1, 0, true) : A;
  RunCost cost;
  cost.logged_step = std::max(0.0, (B - A) / da);
  cost.unlogged_step = std::max(0.0, cost.logged_step + (C - B) / (2 * da - 2));
  cost.evaluation = std::max(0.0, (D - A) / static_cast<double>(evaluations(a, every) - 2));
  cost.fixed = std::max(0.0, A - da * cost.logged_step - 2 * cost.evaluation);
  cost.gradcheck = std::max(0.0, G - A);
  return cost;
}

SweepEstimate estimate_sweep(const std::vector<RunConfig>& runs, int jobs) {
  using Clock = std::chrono::steady_clock;
  SweepEstimate e;
  e.jobs = std::max(jobs, 1);
  e.cores = std::max(1u, std::thread::hardware_concurrency());
  const auto started = Clock::now();
  const double cpu_started = thread_cpu_seconds();
  std::map<std::string, RunCost> costs;  // by the probe configuration's text
  std::set<std::pair<std::string, long>> checked;  // a sweep checks each model form and seed once
  std::vector<double> cpu(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    const std::string key = config_text(probe_config(runs[i]));
    auto it = costs.find(key);
    if (it == costs.end()) {
      RunConfig with_check = runs[i];
      with_check.gradcheck = true;  // measure it once, whichever run of the key comes first
      it = costs.emplace(key, measure_run_cost(with_check)).first;
    }
    RunConfig run = runs[i];
    run.gradcheck = run.gradcheck && checked.insert({key, runs[i].seed}).second;
    cpu[i] = run_cpu_seconds(run, it->second);
  }
  e.distinct_costs = costs.size();
  e.probing_seconds = std::chrono::duration<double>(Clock::now() - started).count();
  const double probing_cpu = thread_cpu_seconds() - cpu_started;
  if (e.probing_seconds > 0 && probing_cpu > 0) e.core_share = std::clamp(probing_cpu / e.probing_seconds, 0.05, 1.0);
  double load[1];
  if (getloadavg(load, 1) == 1) e.load = load[0];

  // The sweep hands runs to `jobs` workers in grid order, each taking the next run when it is free.
  const double slowdown = std::max(1.0, static_cast<double>(e.jobs) / static_cast<double>(e.cores));
  std::vector<double> free_at(static_cast<size_t>(e.jobs), 0.0);
  for (size_t i = 0; i < runs.size(); ++i) {
    e.total_cpu += cpu[i];
    e.run_seconds.push_back(cpu[i] / e.core_share);
    auto slot = std::min_element(free_at.begin(), free_at.end());
    *slot += e.run_seconds.back() * slowdown;
  }
  e.wall = free_at.empty() ? 0.0 : *std::max_element(free_at.begin(), free_at.end());
  return e;
}

}  // namespace sbx::bench
