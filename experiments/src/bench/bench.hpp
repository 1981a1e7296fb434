#pragma once
// `sandbox bench`: times the training step of `sandbox train` (sbx::TrainingStep with models::Attention,
// the teacher task and ad::Adam) against the hand-derived Eigen reference (reference_step.hpp), and
// counts its heap allocations. This header holds the measuring; printing and storing are in
// bench_report.hpp.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "experiments/src/bench/alloc_counter.hpp"
#include "experiments/src/bench/reference_step.hpp"

namespace sbx::bench {

// FLOPs of one forward + backward pass, counted analytically from the matrix products alone (2·m·n·k
// per m×k by k×n product; softmax, loss, scaling and Adam are O(size) and left out). With N = B·n rows
// and d_v = d_k:
//   forward : Q, K, V            3 · 2·N·d_model·d_k
//             S_b = Q_b K_bᵀ     B · 2·n·n·d_k  = 2·N·n·d_k
//             Z_b = A_b V_b      2·N·n·d_k
//   backward: dA_b, dV_b         2 · 2·N·n·d_k
//             dQ_b, dK_b         2 · 2·N·n·d_k
//             dW_Q, dW_K, dW_V   3 · 2·N·d_model·d_k          (dX is not needed: X is data)
//   total   = 12·N·d_k·(d_model + n)
double step_flops(const BenchShape& shape);

// Least-squares slope of log y against log x (the exponent p of y ≈ c·xᵖ). Needs ≥ 2 distinct x > 0.
double fitted_exponent(const std::vector<double>& x, const std::vector<double>& y);
double median(std::vector<double> values);

// Peak resident set size of this process so far (getrusage ru_maxrss), in KiB.
long peak_rss_kib();

// How one measurement is taken: warm up (at least warmup_steps and warmup_seconds), then `repeats`
// blocks of steps, each block sized to take about block_seconds; the result is the median over blocks of
// the time per step.
struct TimingPlan {
  int repeats = 7;
  int warmup_steps = 3;
  double warmup_seconds = 0.02;
  double block_seconds = 0.014;
};

struct Timing {
  double us_per_step = 0.0;           // median over the repeats
  double min_us_per_step = 0.0;       // fastest repeat
  double allocations_per_step = 0.0;  // heap allocations during the timed blocks / steps timed
  long steps_per_block = 0;
  int repeats = 0;
  // This thread's CPU time over the wall time of the timed blocks: below ~0.9 the process was not on a
  // core all the time (a busy machine) and the wall times are inflated.
  double cpu_share = 1.0;
};

double thread_cpu_seconds();  // CLOCK_THREAD_CPUTIME_ID

namespace detail {

// Runs `step` untimed: once to size every buffer, then at least plan.warmup_steps times and for at least
// plan.warmup_seconds. Returns how many steps make a block of about plan.block_seconds.
template <class Step>
long warm_up(Step& step, const TimingPlan& plan) {
  using Clock = std::chrono::steady_clock;
  step();
  const auto start = Clock::now();
  long warm = 0;
  double elapsed = 0.0;
  while (warm < plan.warmup_steps || elapsed < plan.warmup_seconds) {
    step();
    ++warm;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  }
  const double estimate = elapsed / static_cast<double>(warm);
  return std::max(1L, static_cast<long>(plan.block_seconds / std::max(estimate, 1e-9) + 0.5));
}

// Times one block of `block` steps; adds to the running totals.
struct Totals {
  std::vector<double> per_step_us;
  std::uint64_t allocations = 0;
  double wall = 0.0, cpu = 0.0;
};
template <class Step>
void time_block(Step& step, long block, Totals& totals) {
  using Clock = std::chrono::steady_clock;
  const std::uint64_t a0 = heap_allocations();
  const double c0 = thread_cpu_seconds();
  const auto t0 = Clock::now();
  for (long i = 0; i < block; ++i) step();
  const auto t1 = Clock::now();
  totals.cpu += thread_cpu_seconds() - c0;
  totals.allocations += heap_allocations() - a0;
  const double wall = std::chrono::duration<double>(t1 - t0).count();
  totals.wall += wall;
  totals.per_step_us.push_back(wall * 1e6 / static_cast<double>(block));
}

Timing summarise(const Totals& totals, long block, int repeats);

}  // namespace detail

// Times `step` (see TimingPlan).
template <class Step>
Timing time_steps(Step&& step, const TimingPlan& plan) {
  const long block = detail::warm_up(step, plan);
  detail::Totals totals;
  for (int r = 0; r < plan.repeats; ++r) detail::time_block(step, block, totals);
  return detail::summarise(totals, block, plan.repeats);
}

// Times two steps with their blocks interleaved (a, b, a, b, ...), so that both see the same conditions
// when the machine's load varies; each gets its own block size.
template <class StepA, class StepB>
std::pair<Timing, Timing> time_interleaved(StepA&& a, StepB&& b, const TimingPlan& plan) {
  const long block_a = detail::warm_up(a, plan);
  const long block_b = detail::warm_up(b, plan);
  detail::Totals totals_a, totals_b;
  for (int r = 0; r < plan.repeats; ++r) {
    detail::time_block(a, block_a, totals_a);
    detail::time_block(b, block_b, totals_b);
  }
  return {detail::summarise(totals_a, block_a, plan.repeats), detail::summarise(totals_b, block_b, plan.repeats)};
}

// This machine's rate for a size×size double matrix product (C.noalias() = A·B), in GFLOP/s.
double gemm_gflops(const TimingPlan& plan, Eigen::Index size = 512);
// The same product in float: the rate a float32 step's GFLOP/s is a percentage of.
double gemm_gflops_float(const TimingPlan& plan, Eigen::Index size = 512);

// Heap allocations per warmed-up step of the engine, phase by phase, measured on a replica of
// sbx::TrainingStep::run (same calls, same order) so that an allocation can be attributed.
struct PhaseAllocations {
  double next_batch = 0, forward = 0, backward = 0, grad_norms = 0, optimizer = 0;
  double total() const { return next_batch + forward + backward + grad_norms + optimizer; }
};
PhaseAllocations engine_allocations_by_phase(const BenchShape& shape, int steps = 4);

struct ShapeResult {
  BenchShape shape;
  double flops = 0.0;  // step_flops(shape)
  // "step": forward + backward + Adam on a batch generated beforehand (batch generation excluded).
  Timing engine, reference;
  // "full": the whole TrainingStep::run, including the teacher task's next_batch; the reference then also
  // calls next_batch of its own teacher task of the same configuration.
  Timing engine_full, reference_full;
  Timing batch;  // the teacher task's next_batch alone
  Timing engine_logged;  // a logged TrainingStep::run (attention metrics, probe), batch generation included
  double ratio() const { return engine.us_per_step / reference.us_per_step; }
  double ratio_full() const { return engine_full.us_per_step / reference_full.us_per_step; }
  double engine_gflops() const { return flops / (engine.us_per_step * 1e3); }
  double reference_gflops() const { return flops / (reference.us_per_step * 1e3); }
};

ShapeResult bench_shape(const BenchShape& shape, const TimingPlan& plan, std::uint64_t seed = 1);

// The engine in float32 (`train --precision float32`): the same step as ShapeResult::engine (batch made
// beforehand), the whole unlogged TrainingStep::run (`full`, with the teacher's next_batch and its
// rounding to float) and a logged one. There is no float reference.
struct Float32Result {
  BenchShape shape;
  double flops = 0.0;
  Timing step, full, logged;
  double gflops() const { return flops / (step.us_per_step * 1e3); }
};
// What a run costs per step against its bare step: a run of `log_every` steps makes log_every − 1 unlogged
// steps and one logged step, each with its batch. The logged step does not include the held-out evaluation
// or the writing (`bench --breakdown` measures those, in whole runs).
double run_per_step_ratio(const Timing& step, const Timing& full, const Timing& logged, long log_every);
Float32Result bench_float32(const BenchShape& shape, const TimingPlan& plan, std::uint64_t seed = 1);

// The engine with h heads (shape.d_k per head, d_v = d_k; W^Q is d_model × h·d_k), on the teacher task of
// the same heads. There is no reference: the hand-derived step is single-head. `full` is the whole
// TrainingStep::run as `sandbox train` runs it on an unlogged step; `measured` is a logged one (the
// attention metrics too, per head included).
struct HeadsResult {
  BenchShape shape;
  Eigen::Index heads = 1;
  Timing full, measured;
};
HeadsResult bench_heads(const BenchShape& shape, Eigen::Index heads, const TimingPlan& plan, std::uint64_t seed = 1);

// Threads inside one run (`train --threads`): the engine's step with one thread and with a team of
// `threads`, timed interleaved, unlogged (forward, backward, Adam on a batch made beforehand) and logged
// (the attention metrics and the logit_delta_rms probe too; their sums over rows stay on one thread).
// `same_bits`: after
// a few steps from the same start, every parameter is bit for bit the same with the team as without.
struct ThreadsResult {
  BenchShape shape;
  int threads = 1;
  Timing one, team;                // unlogged step
  Timing one_logged, team_logged;  // logged step
  bool same_bits = false;
  double speedup() const { return one.us_per_step / team.us_per_step; }
  double speedup_logged() const { return one_logged.us_per_step / team_logged.us_per_step; }
};
ThreadsResult bench_threads(const BenchShape& shape, int threads, const TimingPlan& plan, std::uint64_t seed = 1);

// One sweep of --scaling: the step (batch generation excluded) of the engine and the reference at shapes
// that differ in one size.
struct ScalingPoint {
  BenchShape shape;
  double flops = 0.0;
  Timing engine, reference;
};
struct ScalingSweep {
  std::string variable;  // "n" or "d_k"
  std::vector<ScalingPoint> points;
  double value(const ScalingPoint& p) const;  // the swept size of a point
  double engine_exponent() const;
  double reference_exponent() const;
  double flop_exponent() const;
};
ScalingSweep scaling_sweep(const std::string& variable, const std::vector<BenchShape>& shapes, const TimingPlan& plan);

}  // namespace sbx::bench
