#include "experiments/src/bench/bench_report.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <thread>

#include "experiments/src/io/h5_store.hpp"
#include "experiments/src/io/layout.hpp"
#include "experiments/src/train/run_config.hpp"
#include "git_commit.hpp"  // generated at build time: SANDBOX_GIT_COMMIT
#include "experiments/src/user_error.hpp"

namespace sbx::bench {
namespace {

constexpr double kMaxRatio = 1.25;
constexpr double kMinGemmFraction = 0.40;

std::string fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

}  // namespace

std::string shape_name(const BenchShape& s) {
  return std::to_string(s.batch) + "x" + std::to_string(s.n) + "x" + std::to_string(s.d_model) + "x" + std::to_string(s.d_k);
}

const ShapeResult& largest_shape(const BenchReport& report) {
  return *std::max_element(report.shapes.begin(), report.shapes.end(),
                           [](const ShapeResult& a, const ShapeResult& b) { return a.flops < b.flops; });
}

std::vector<Target> evaluate_targets(const BenchReport& report) {
  std::vector<Target> targets;
  {
    Target t{"engine/reference time <= " + fixed(kMaxRatio, 2) + " at every shape (step)", true, ""};
    const ShapeResult* worst = nullptr;
    for (const ShapeResult& r : report.shapes)
      if (!worst || r.ratio() > worst->ratio()) worst = &r;
    t.holds = worst->ratio() <= kMaxRatio;
    t.detail = "worst " + fixed(worst->ratio(), 2) + " at " + shape_name(worst->shape);
    targets.push_back(t);
  }
  {
    Target t{"zero heap allocations per step after warm-up (full TrainingStep::run)", true, ""};
    double worst = 0;
    std::string where;
    for (const ShapeResult& r : report.shapes) {
      if (r.engine_full.allocations_per_step > worst) worst = r.engine_full.allocations_per_step, where = shape_name(r.shape);
    }
    for (const HeadsResult& h : report.heads) {  // multi-head, logged steps included
      const double most = std::max(h.full.allocations_per_step, h.measured.allocations_per_step);
      if (most > worst) worst = most, where = shape_name(h.shape) + " with " + std::to_string(h.heads) + " heads";
    }
    t.holds = worst == 0;
    t.detail = worst == 0 ? std::string("0 at every shape") : fixed(worst, 2) + " per step at " + where;
    if (!report.counts_c_allocations) t.detail += " (operator new only: malloc is the sanitizer's in this build)";
    targets.push_back(t);
  }
  {
    const ShapeResult& largest = largest_shape(report);
    const double fraction = largest.engine_gflops() / report.gemm_gflops;
    Target t{">= " + fixed(100 * kMinGemmFraction, 0) + "% of the GEMM rate at the largest shape (step)", fraction >= kMinGemmFraction,
             fixed(100 * fraction, 1) + "% at " + shape_name(largest.shape) + " (reference: " +
                 fixed(100 * largest.reference_gflops() / report.gemm_gflops, 1) + "%)"};
    targets.push_back(t);
  }
  return targets;
}

void print_header(std::FILE* out, const BenchReport& r) {
  std::fprintf(out,
               "sandbox bench%s: single-head self-attention (scale 1/sqrt(d_k), no W^O, d_v = d_k), teacher task, "
               "MSE, Adam lr 0.01\n",
               r.quick ? " --quick" : "");
  std::fprintf(out, "  engine    = sbx::TrainingStep (models::Attention + autodiff tape + ad::Adam), as `sandbox train` runs it\n");
  std::fprintf(out, "  reference = hand-derived forward/backward/Adam in Eigen (experiments/src/bench/reference_step.cpp)\n");
  std::fprintf(out, "  step      = forward + backward + Adam update on a batch generated beforehand: batch generation\n");
  std::fprintf(out, "              is excluded from both sides (the ratio target is judged on this)\n");
  std::fprintf(out, "  full      = step + the teacher task's next_batch (random X and the teacher's forward pass) in both\n");
  std::fprintf(out, "  timing    = steady_clock, median of %d repeats, each a block of steps (~%.0f ms) after warm-up\n",
               r.plan.repeats, 1e3 * r.plan.block_seconds);
  std::fprintf(out, "  GFLOP/s   = matrix-product FLOPs of forward + backward, 12*B*n*d_k*(d_model + n), per step time\n");
  std::fprintf(out, "  run/step  = what a default-logged run (log every %ld) costs per step over its bare step: its unlogged\n"
                    "              steps with their batches and its logged steps (metrics, probe); not evaluation or writing\n",
               sbx::RunConfig{}.log_every);
  std::fprintf(out, "  machine GEMM rate (%ldx%ld double product, C.noalias() = A*B): %.1f GFLOP/s\n",
               static_cast<long>(r.gemm_size), static_cast<long>(r.gemm_size), r.gemm_gflops);
  if (r.gemm_gflops_float > 0)
    std::fprintf(out, "  machine GEMM rate (%ldx%ld float product): %.1f GFLOP/s (the float32 table's %% GEMM)\n",
                 static_cast<long>(r.gemm_size), static_cast<long>(r.gemm_size), r.gemm_gflops_float);
  std::fprintf(out, "\n");
  std::fflush(out);
}

void print_shapes(std::FILE* out, const BenchReport& r) {
  std::fprintf(out, "%-16s | %10s %10s %6s | %7s %7s | %10s %10s %6s | %9s | %10s %8s | %11s %5s\n", "shape", "step", "",
               "", "", "", "full", "", "", "", "logged", "", "allocs/step", "");
  std::fprintf(out, "%-16s | %10s %10s %6s | %7s %7s | %10s %10s %6s | %9s | %10s %8s | %11s %5s\n", "B x n x dm x dk",
               "engine us", "ref us", "ratio", "GFLOP/s", "of GEMM", "engine us", "ref us", "ratio", "batch us",
               "engine us", "run/step", "engine", "ref");
  for (const ShapeResult& s : r.shapes) {
    const double run_ratio = run_per_step_ratio(s.engine, s.engine_full, s.engine_logged, sbx::RunConfig{}.log_every);
    std::fprintf(out, "%-16s | %10.1f %10.1f %6.2f | %7.2f %6.1f%% | %10.1f %10.1f %6.2f | %9.1f | %10.1f %8.2f | %11.2f %5.2f\n",
                 shape_name(s.shape).c_str(), s.engine.us_per_step, s.reference.us_per_step, s.ratio(),
                 s.engine_gflops(), 100 * s.engine_gflops() / r.gemm_gflops, s.engine_full.us_per_step,
                 s.reference_full.us_per_step, s.ratio_full(), s.batch.us_per_step, s.engine_logged.us_per_step, run_ratio,
                 s.engine_full.allocations_per_step, s.reference.allocations_per_step);
  }
  std::fprintf(out, "%-16s   reference GFLOP/s:", "");
  for (const ShapeResult& s : r.shapes)
    std::fprintf(out, " %s %.2f (%.1f%%)", shape_name(s.shape).c_str(), s.reference_gflops(), 100 * s.reference_gflops() / r.gemm_gflops);
  std::fprintf(out, "\n");
  for (size_t i = 0; i < r.phases.size() && i < r.shapes.size(); ++i) {
    const PhaseAllocations& p = r.phases[i];
    if (r.shapes[i].engine_full.allocations_per_step == 0 && p.total() == 0) continue;
    std::fprintf(out,
                 "  engine allocations per step at %s, by phase (replica of TrainingStep::run): next_batch %.2f, "
                 "forward+loss %.2f, backward %.2f, grad norms %.2f, Adam %.2f\n",
                 shape_name(r.shapes[i].shape).c_str(), p.next_batch, p.forward, p.backward, p.grad_norms, p.optimizer);
  }
  std::fflush(out);
}

void print_heads(std::FILE* out, const BenchReport& r) {
  if (r.heads.empty()) return;
  std::fprintf(out, "\nmulti-head (engine only; d_k per head, W^Q d_model x h*d_k), full TrainingStep::run\n");
  std::fprintf(out, "%-16s %5s | %10s %11s | %12s %11s\n", "B x n x dm x dk", "heads", "engine us", "allocs/step",
               "logged us", "allocs/step");
  for (const HeadsResult& h : r.heads)
    std::fprintf(out, "%-16s %5ld | %10.1f %11.2f | %12.1f %11.2f\n", shape_name(h.shape).c_str(), static_cast<long>(h.heads),
                 h.full.us_per_step, h.full.allocations_per_step, h.measured.us_per_step, h.measured.allocations_per_step);
  std::fflush(out);
}

void print_float32(std::FILE* out, const BenchReport& r) {
  if (r.float32.empty()) return;
  std::fprintf(out, "\nfloat32 (train --precision float32), engine only; step: batch made beforehand; full: the whole unlogged\n"
                    "TrainingStep::run (next_batch and its rounding to float too); logged: a logged step\n");
  std::fprintf(out, "%-16s | %10s %8s %7s %7s | %10s %11s | %10s %8s\n", "B x n x dm x dk", "f32 us", "GFLOP/s", "of GEMM",
               "vs f64", "full us", "allocs/step", "logged us", "run/step");
  for (const Float32Result& f : r.float32) {
    double f64 = std::nan("");  // the float64 step of the same shape, when it was timed
    for (const ShapeResult& s : r.shapes)
      if (shape_name(s.shape) == shape_name(f.shape)) f64 = s.engine.us_per_step;
    const std::string speedup = std::isnan(f64) ? "-" : fixed(f64 / f.step.us_per_step, 2) + "x";
    const double of_gemm = r.gemm_gflops_float > 0 ? 100 * f.gflops() / r.gemm_gflops_float : std::nan("");
    std::fprintf(out, "%-16s | %10.1f %8.2f %6.1f%% %7s | %10.1f %11.2f | %10.1f %8.2f\n", shape_name(f.shape).c_str(),
                 f.step.us_per_step, f.gflops(), of_gemm, speedup.c_str(), f.full.us_per_step, f.full.allocations_per_step,
                 f.logged.us_per_step, run_per_step_ratio(f.step, f.full, f.logged, sbx::RunConfig{}.log_every));
  }
  std::fflush(out);
}

void print_threads(std::FILE* out, const BenchReport& r) {
  if (r.threads.empty()) return;
  std::fprintf(out, "\nthreads inside one run (train --threads N), engine step; unlogged: batch made beforehand; logged:\n"
                    "the whole TrainingStep::run of a logged step (attention metrics and logit_delta_rms probe too)\n");
  std::fprintf(out, "%-16s %7s | %10s %10s %8s | %10s %10s %8s | %s\n", "B x n x dm x dk", "threads", "1 thr us", "N thr us",
               "speed-up", "logged 1", "logged N", "speed-up", "same bits");
  for (const ThreadsResult& t : r.threads)
    std::fprintf(out, "%-16s %7d | %10.1f %10.1f %7.2fx | %10.1f %10.1f %7.2fx | %s\n", shape_name(t.shape).c_str(), t.threads,
                 t.one.us_per_step, t.team.us_per_step, t.speedup(), t.one_logged.us_per_step, t.team_logged.us_per_step,
                 t.speedup_logged(), t.same_bits ? "yes" : "NO");
  if (r.quick)
    std::fprintf(out, "(--quick: a shape too small to gain from threads; it checks that the team changes no bit)\n");
  std::fflush(out);
}

void print_scaling(std::FILE* out, const ScalingSweep& sweep, double gemm_gflops) {
  const BenchShape& first = sweep.points.front().shape;
  if (sweep.variable == "n")
    std::fprintf(out, "\nscaling in n (batch %ld, d_model %ld, d_k %ld), step time (batch generation excluded)\n",
                 static_cast<long>(first.batch), static_cast<long>(first.d_model), static_cast<long>(first.d_k));
  else
    std::fprintf(out, "\nscaling in d_k (batch %ld, n %ld, d_model %ld), step time (batch generation excluded)\n",
                 static_cast<long>(first.batch), static_cast<long>(first.n), static_cast<long>(first.d_model));
  std::fprintf(out, "%6s %12s %12s %12s %6s %9s %7s %9s %7s %12s\n", sweep.variable.c_str(), "MFLOP/step", "engine us", "ref us",
               "ratio", "GFLOP/s", "% GEMM", "ref GF/s", "% GEMM", "allocs/step");
  for (const ScalingPoint& p : sweep.points) {
    const double engine = p.flops / (p.engine.us_per_step * 1e3), reference = p.flops / (p.reference.us_per_step * 1e3);
    std::fprintf(out, "%6.0f %12.2f %12.1f %12.1f %6.2f %9.2f %6.1f%% %9.2f %6.1f%% %12.2f\n", sweep.value(p), p.flops / 1e6,
                 p.engine.us_per_step, p.reference.us_per_step, p.engine.us_per_step / p.reference.us_per_step, engine,
                 100.0 * engine / gemm_gflops, reference, 100.0 * reference / gemm_gflops, p.engine.allocations_per_step);
  }
  std::fprintf(out, "fitted exponent of time vs %s over %.0f..%.0f (least squares in log-log): engine %.2f, reference %.2f; "
               "FLOP count %.2f\n",
               sweep.variable.c_str(), sweep.value(sweep.points.front()), sweep.value(sweep.points.back()),
               sweep.engine_exponent(), sweep.reference_exponent(), sweep.flop_exponent());
  std::fflush(out);
}

static double lowest_cpu_share(const BenchReport& r) {
  double lowest = 1.0;
  for (const ShapeResult& s : r.shapes)
    for (const Timing* t : {&s.engine, &s.reference, &s.engine_full, &s.reference_full, &s.batch, &s.engine_logged})
      lowest = std::min(lowest, t->cpu_share);
  for (const ScalingSweep& sweep : r.scaling)
    for (const ScalingPoint& p : sweep.points) lowest = std::min({lowest, p.engine.cpu_share, p.reference.cpu_share});
  return lowest;
}

static std::string load_average() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (!f) return "unknown";
  char buffer[64] = {0};
  const bool ok = std::fgets(buffer, sizeof buffer, f) != nullptr;
  std::fclose(f);
  if (!ok) return "unknown";
  std::string s(buffer);
  return s.substr(0, s.find(' '));
}

void print_footer(std::FILE* out, const BenchReport& r) {
  std::fprintf(out, "\npeak RSS: %.1f MiB\n", static_cast<double>(r.peak_rss_kib) / 1024.0);
  const double share = lowest_cpu_share(r);
  std::fprintf(out, "CPU share while timing (thread CPU time / wall time, lowest measurement): %.0f%%; load average now %s on %u cores\n",
               100 * share, load_average().c_str(), std::thread::hardware_concurrency());
  if (share < 0.9)
    std::fprintf(out, "WARNING: the machine was busy: some timings include time this process spent waiting for a core; rerun on a quiet machine\n");
  std::fprintf(out, "targets:\n");
  for (const Target& t : evaluate_targets(r))
    std::fprintf(out, "  %-72s %-6s %s\n", t.text.c_str(), t.holds ? "holds" : "FAILS", t.detail.c_str());
  std::fflush(out);
}

void check_out_path(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  std::error_code ec;
  if (path.empty()) throw UserError("sandbox bench: --out needs a file name");
  if (fs::is_directory(target, ec)) throw UserError(path + ": is a directory, not a file");
  if (target.filename().empty()) throw UserError(path + ": not a file name");
  const fs::path parent = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  if (!fs::is_directory(parent, ec)) throw UserError(path + ": directory " + parent.string() + " does not exist");
  if (::access(parent.c_str(), W_OK | X_OK) != 0) throw UserError(path + ": directory " + parent.string() + " is not writable");
  if (fs::exists(target, ec)) io::H5Reader reader(path);  // UserError unless it is a readable HDF5 file
}

namespace {

namespace lo = io::layout::bench;

// One column per measure, one row per shape.
void write_shape_table(H5::Group& bench, const BenchReport& r) {
  std::vector<std::int64_t> batch, n, d_model, d_k;
  std::vector<double> flops, engine, reference, ratio, engine_full, reference_full, ratio_full, batch_us, gflops,
      reference_gflops, fraction, allocations, engine_step_allocations, reference_allocations;
  for (const ShapeResult& s : r.shapes) {
    batch.push_back(s.shape.batch);
    n.push_back(s.shape.n);
    d_model.push_back(s.shape.d_model);
    d_k.push_back(s.shape.d_k);
    flops.push_back(s.flops);
    engine.push_back(s.engine.us_per_step);
    reference.push_back(s.reference.us_per_step);
    ratio.push_back(s.ratio());
    engine_full.push_back(s.engine_full.us_per_step);
    reference_full.push_back(s.reference_full.us_per_step);
    ratio_full.push_back(s.ratio_full());
    batch_us.push_back(s.batch.us_per_step);
    gflops.push_back(s.engine_gflops());
    reference_gflops.push_back(s.reference_gflops());
    fraction.push_back(s.engine_gflops() / r.gemm_gflops);
    allocations.push_back(s.engine_full.allocations_per_step);
    engine_step_allocations.push_back(s.engine.allocations_per_step);
    reference_allocations.push_back(s.reference.allocations_per_step);
  }
  io::write_int_vector(bench, lo::batch, batch);
  io::write_int_vector(bench, lo::seq_len, n);
  io::write_int_vector(bench, lo::d_model, d_model);
  io::write_int_vector(bench, lo::d_k, d_k);
  io::write_vector(bench, lo::flops, flops);
  io::write_vector(bench, lo::engine_us, engine);
  io::write_vector(bench, lo::reference_us, reference);
  io::write_vector(bench, lo::ratio, ratio);
  io::write_vector(bench, lo::engine_full_us, engine_full);
  io::write_vector(bench, lo::reference_full_us, reference_full);
  io::write_vector(bench, lo::ratio_full, ratio_full);
  io::write_vector(bench, lo::batch_us, batch_us);
  io::write_vector(bench, lo::gflops, gflops);
  io::write_vector(bench, lo::reference_gflops, reference_gflops);
  io::write_vector(bench, lo::gemm_fraction, fraction);
  io::write_vector(bench, lo::allocations_per_step, allocations);
  io::write_vector(bench, lo::engine_step_allocations_per_step, engine_step_allocations);
  io::write_vector(bench, lo::reference_allocations_per_step, reference_allocations);
}

// The machine, the plan and the multi-head and threads shapes, as attributes.
void write_summary(H5::Group& bench, const BenchReport& r) {
  io::set_attr(bench, lo::gemm_gflops, r.gemm_gflops);
  io::set_attr(bench, lo::gemm_size, static_cast<std::int64_t>(r.gemm_size));
  io::set_attr(bench, lo::peak_rss_kib, static_cast<std::int64_t>(r.peak_rss_kib));
  io::set_attr(bench, lo::lowest_cpu_share, lowest_cpu_share(r));
  io::set_attr(bench, lo::repeats, static_cast<std::int64_t>(r.plan.repeats));
  io::set_attr(bench, lo::block_seconds, r.plan.block_seconds);
  io::set_attr(bench, lo::quick, static_cast<std::int64_t>(r.quick ? 1 : 0));
  if (!r.heads.empty()) {  // the multi-head shape (one; see cmd_bench.cpp)
    const HeadsResult& h = r.heads.front();
    io::set_attr(bench, lo::heads_shape, shape_name(h.shape));
    io::set_attr(bench, lo::heads, static_cast<std::int64_t>(h.heads));
    io::set_attr(bench, lo::heads_us_per_step, h.full.us_per_step);
    io::set_attr(bench, lo::heads_allocations_per_step, h.full.allocations_per_step);
    io::set_attr(bench, lo::heads_logged_allocations_per_step, h.measured.allocations_per_step);
  }
  if (!r.threads.empty()) {  // the first shape of --threads, 4x512x512x64 (see cmd_bench.cpp)
    const ThreadsResult& t = r.threads.front();
    io::set_attr(bench, lo::threads_shape, shape_name(t.shape));
    io::set_attr(bench, lo::threads, static_cast<std::int64_t>(t.threads));
    io::set_attr(bench, lo::threads_one_us, t.one.us_per_step);
    io::set_attr(bench, lo::threads_team_us, t.team.us_per_step);
    io::set_attr(bench, lo::threads_logged_one_us, t.one_logged.us_per_step);
    io::set_attr(bench, lo::threads_logged_team_us, t.team_logged.us_per_step);
    io::set_attr(bench, lo::threads_same_bits, static_cast<std::int64_t>(t.same_bits ? 1 : 0));
  }
}

// What the numbers mean, which build made them and whether the targets hold.
void write_provenance(H5::Group& bench, const BenchReport& r) {
  io::set_attr(bench, lo::timing, "median over repeats of the time per step of a block of steps after warm-up, steady_clock");
  io::set_attr(bench, lo::engine_us_includes, "forward + backward + Adam on a batch generated beforehand (no batch generation)");
  io::set_attr(bench, lo::engine_full_us_includes, "the whole TrainingStep::run, including the teacher task's next_batch");
  io::set_attr(bench, lo::flops_formula, "12*batch*seq_len*d_k*(d_model + seq_len): matrix products of forward + backward");
  io::set_attr(bench, lo::allocations_counted, r.counts_c_allocations ? "operator new and malloc family" : "operator new only");
  io::set_attr(bench, io::layout::root::sandbox_version, SANDBOX_VERSION);
  io::set_attr(bench, io::layout::root::git_commit, SANDBOX_GIT_COMMIT);
  io::set_attr(bench, io::layout::root::eigen_version, io::eigen_version_string());
  const auto targets = evaluate_targets(r);
  for (size_t i = 0; i < targets.size(); ++i) {
    static const char* names[] = {lo::target_ratio_holds, lo::target_zero_allocations_holds, lo::target_gemm_fraction_holds};
    io::set_attr(bench, names[i], static_cast<std::int64_t>(targets[i].holds ? 1 : 0));
  }
}

// One group per scaling sweep: the time against the variable, and the fitted exponents.
void write_scaling(H5::Group& bench, const ScalingSweep& sweep) {
  H5::Group g = bench.createGroup(lo::scaling_prefix + sweep.variable);
  std::vector<std::int64_t> value;
  std::vector<double> f, e, ref;
  for (const ScalingPoint& p : sweep.points) {
    value.push_back(static_cast<std::int64_t>(sweep.value(p)));
    f.push_back(p.flops);
    e.push_back(p.engine.us_per_step);
    ref.push_back(p.reference.us_per_step);
  }
  const BenchShape& s = sweep.points.front().shape;
  io::write_int_vector(g, sweep.variable == "n" ? lo::seq_len : lo::d_k, value);
  io::write_vector(g, lo::flops, f);
  io::write_vector(g, lo::engine_us, e);
  io::write_vector(g, lo::reference_us, ref);
  io::set_attr(g, lo::batch, static_cast<std::int64_t>(s.batch));
  io::set_attr(g, lo::d_model, static_cast<std::int64_t>(s.d_model));
  if (sweep.variable == "n") io::set_attr(g, lo::d_k, static_cast<std::int64_t>(s.d_k));
  else io::set_attr(g, lo::seq_len, static_cast<std::int64_t>(s.n));
  io::set_attr(g, lo::engine_exponent, sweep.engine_exponent());
  io::set_attr(g, lo::reference_exponent, sweep.reference_exponent());
  io::set_attr(g, lo::flop_exponent, sweep.flop_exponent());
}

}  // namespace

void write_h5(const std::string& path, const BenchReport& r) {
  io::silence_hdf5_errors();
  io::remove_stale_temps(path);
  io::H5Transaction edit(path);
  try {
    H5::H5File& file = edit.file();
    io::delete_path(file, lo::group);
    H5::Group bench = file.createGroup(lo::group);
    write_shape_table(bench, r);
    write_summary(bench, r);
    write_provenance(bench, r);
    for (const ScalingSweep& sweep : r.scaling) write_scaling(bench, sweep);
  } catch (const H5::Exception& e) {
    throw UserError(path + ": cannot write: " + e.getDetailMsg());
  }
  edit.commit();
}

}  // namespace sbx::bench
