#pragma once
// `sweep --dry-run`'s time estimate: what the grid's runs would take on this machine, under its current
// load. Runs that differ only in what does not change the work of a step (seed, learning rate, steps,
// name, ...) share one cost; for each distinct cost the real training code (train_run, either model) is run
// a few times on short, scaled-down versions of the configuration, and the differences between them give
// the cost of a logged step, an unlogged step, a held-out evaluation, the gradient check and the fixed part
// of a run. Those are timed in the thread's CPU time (preemption by other processes does not spoil the
// differences) and turned into wall time by the share of a core the probing thread got.
#include <vector>

#include "experiments/src/train/run_config.hpp"

namespace sbx::bench {

// Seconds of one thread's CPU time.
struct RunCost {
  double fixed = 0.0;          // setup (model, task, optimizer, the evaluation set) and recording
  double logged_step = 0.0;    // a step whose training metrics are logged (log_every)
  double unlogged_step = 0.0;  // any other step
  double evaluation = 0.0;     // one held-out evaluation (at the start, every eval_every, at the end)
  double gradcheck = 0.0;      // the gradient check of the small model form (0 with --no-gradcheck)
};

// Steps of a run of `steps` steps whose metrics are logged: every log_every-th step and the last.
long logged_steps(long steps, long log_every);
// Held-out evaluations of a run: at the start, every eval_every updates before the last, and at the end.
long evaluations(long steps, long eval_every);
// A run's CPU seconds from its cost; it assumes the run does not stop early (a diverging run stops early).
double run_cpu_seconds(const RunConfig& config, const RunCost& cost);

// Times the probes of one configuration (seconds of CPU: each probe is trained twice, the faster counts).
RunCost measure_run_cost(const RunConfig& config);

struct SweepEstimate {
  std::vector<double> run_seconds;  // wall seconds of each run alone on a core, under the current load
  double total_cpu = 0.0;           // CPU seconds of all runs
  double wall = 0.0;                // the sweep with `jobs` runs side by side, in grid order
  int jobs = 1;
  unsigned cores = 1;
  double core_share = 1.0;  // CPU time / wall time of the probing thread
  double load = -1.0;       // the machine's 1-minute load average while probing (-1: unknown)
  size_t distinct_costs = 0;
  double probing_seconds = 0.0;  // wall time the probing took
};

// `jobs` runs side by side: each takes a free slot as runs finish (the sweep's order); with more jobs than
// cores each run is slowed by jobs / cores.
SweepEstimate estimate_sweep(const std::vector<RunConfig>& runs, int jobs);

}  // namespace sbx::bench
