// `sandbox bench`: the training step of `sandbox train` against a hand-derived Eigen reference, with
// allocation counts, GFLOP/s against this machine's GEMM rate and, with --scaling, fitted exponents.
#include <chrono>
#include <cstdio>
#include <string>

#include "experiments/src/bench/bench.hpp"
#include "experiments/src/bench/breakdown.hpp"
#include "experiments/src/cli/grid_file.hpp"
#include "experiments/src/bench/bench_report.hpp"
#include "experiments/src/cli/options.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::cli {
namespace {

// "32x16x64x8": batch x n x d_model x d_k, each a positive whole number.
bench::BenchShape parse_shape(const std::string& text) {
  long v[4] = {0, 0, 0, 0};
  char tail = 0;
  if (std::sscanf(text.c_str(), "%ldx%ldx%ldx%ld%c", &v[0], &v[1], &v[2], &v[3], &tail) != 4 || v[0] <= 0 || v[1] <= 0 ||
      v[2] <= 0 || v[3] <= 0 || v[0] * v[1] > 1'000'000 || v[2] > 100'000 || v[3] > 100'000 || v[1] > 100'000)
    throw UserError("sandbox bench: --shape '" + text + "' is not BxNxDMxDK of positive sizes (e.g. 32x16x64x8)");
  return {v[0], v[1], v[2], v[3]};
}

}  // namespace

int run_bench(const Args& args) {
  namespace bench = sbx::bench;
  bool quick = false, scaling = false, breakdown = false;
  int repeats = 0, threads = 0;
  std::string out, config_file, precision = "both", shape_text;
  po::options_description options("bench options");
  options.add_options()
      ("quick", po::bool_switch(&quick), "small shapes and few repeats: a smoke test of a few seconds")
      ("scaling", po::bool_switch(&scaling), "also sweep n and d_k and fit the exponent of time against each")
      ("repeats", po::value(&repeats), "timed blocks per measurement (default 7, 3 with --quick); the median is reported")
      ("threads", po::value(&threads), "also time the step with this many threads (2..256) inside one run against one "
                                       "thread, at 4x512x512x64 and 8x256x256x64 (4x64x64x32 with --quick)")
      ("precision", po::value(&precision), "float64 (the table against the reference, as before), float32 (the float engine's "
                                           "step alone) or both (default)")
      ("shape", po::value(&shape_text), "time this one shape BxNxDMxDK (e.g. 32x16x64x8) instead of the table's shapes, "
                                        "without the multi-head line")
      ("out", po::value(&out), "HDF5 file to store the results in, as the group /bench (created if missing)")
      ("breakdown", po::bool_switch(&breakdown), "instead: train study runs and show where each run's time goes, phase by phase")
      ("config", po::value(&config_file), "with --breakdown: the runs of this sweep INI file (default: study shapes at d_k 8, 32, 256)");
  po::variables_map vm;
  if (!parse_options("bench", args, options, vm)) return 0;
  if (vm.count("repeats") && (repeats < 1 || repeats > 1000))
    throw UserError("sandbox bench: --repeats must be in 1..1000");
  if (vm.count("threads") && (threads < 2 || threads > 256))
    throw UserError("sandbox bench: --threads " + std::to_string(threads) + ": give 2..256 (it compares N threads against one)");
  if (precision != "float64" && precision != "float32" && precision != "both")
    throw UserError("sandbox bench: --precision: unknown precision '" + precision + "' (choose float32, float64 or both)");
  const bool f64 = precision != "float32", f32 = precision != "float64";
  if (vm.count("out") && !f64) throw UserError("sandbox bench: --out stores the float64 table: give --precision float64 or both");
  std::vector<bench::BenchShape> one_shape;
  if (vm.count("shape")) one_shape.push_back(parse_shape(shape_text));
  if (vm.count("out")) bench::check_out_path(out);  // before anything runs
  if (vm.count("config") && !breakdown) throw UserError("sandbox bench: --config goes with --breakdown");
  if (vm.count("threads") && breakdown) throw UserError("sandbox bench: --threads does not go with --breakdown (a study run is on one thread)");
  const auto started = std::chrono::steady_clock::now();
  if (breakdown) {
    const auto groups = config_file.empty() ? bench::study_breakdown_groups(quick)
                                            : bench::group_by_task_and_dk(build_grid(config_file, vm, "").expand());
    bench::print_breakdown(stdout, bench::run_breakdown(groups));
    std::printf("bench took %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return 0;
  }

  bench::BenchReport report;
  report.quick = quick;
  report.counts_c_allocations = bench::counts_c_allocations();
  report.plan = quick ? bench::TimingPlan{3, 2, 0.002, 0.004} : bench::TimingPlan{7, 3, 0.02, 0.014};
  if (vm.count("repeats")) report.plan.repeats = repeats;

  report.gemm_gflops = bench::gemm_gflops(report.plan, report.gemm_size);
  if (f32) report.gemm_gflops_float = bench::gemm_gflops_float(report.plan, report.gemm_size);
  bench::print_header(stdout, report);

  const std::vector<bench::BenchShape> shapes =
      !one_shape.empty() ? one_shape
      : quick ? std::vector<bench::BenchShape>{{8, 16, 32, 8}, {8, 16, 32, 64}, {8, 32, 64, 64}}
              : std::vector<bench::BenchShape>{{32, 16, 64, 8}, {32, 16, 64, 64}, {32, 16, 64, 512}, {32, 64, 128, 128}};
  for (const bench::BenchShape& s : shapes) {
    if (!f64) break;
    report.shapes.push_back(bench::bench_shape(s, report.plan));
    // Where the engine allocates, attribute it to a phase of the step.
    report.phases.push_back(report.shapes.back().engine_full.allocations_per_step > 0 ||
                                    report.shapes.back().engine.allocations_per_step > 0
                                ? bench::engine_allocations_by_phase(s)
                                : bench::PhaseAllocations{});
  }
  if (f64) bench::print_shapes(stdout, report);
  if (f32) {
    for (const bench::BenchShape& s : shapes) report.float32.push_back(bench::bench_float32(s, report.plan));
    bench::print_float32(stdout, report);
  }
  // One multi-head shape: 4 heads of d_k = d_model/4, the engine's full step, unlogged and logged.
  if (f64 && one_shape.empty()) {
    report.heads.push_back(quick ? bench::bench_heads({8, 16, 32, 8}, 4, report.plan)
                                 : bench::bench_heads({32, 16, 64, 16}, 4, report.plan));
    bench::print_heads(stdout, report);
  }

  if (threads > 0) {
    const std::vector<bench::BenchShape> shapes =
        quick ? std::vector<bench::BenchShape>{{4, 64, 64, 32}} : std::vector<bench::BenchShape>{{4, 512, 512, 64}, {8, 256, 256, 64}};
    // Steps of 20-120 ms: blocks of ~0.2 s (a single step per block was at the mercy of one slow step).
    const bench::TimingPlan plan = quick ? report.plan : bench::TimingPlan{report.plan.repeats, 2, 0.1, 0.2};
    for (const bench::BenchShape& s : shapes) report.threads.push_back(bench::bench_threads(s, threads, plan));
    bench::print_threads(stdout, report);
    for (const bench::ThreadsResult& t : report.threads)
      if (!t.same_bits) {
        std::fprintf(stderr, "sandbox bench: with %d threads the parameters differ from one thread's at %s: a bug, please report it\n",
                     t.threads, bench::shape_name(t.shape).c_str());
        return 1;
      }
  }

  if (scaling) {
    // Batch and d_model are kept small so that the whole sweep stays well under a minute on 2 cores.
    const Eigen::Index batch = quick ? 2 : 8, d_model = quick ? 32 : 64;
    const Eigen::Index max_n = quick ? 128 : 1024, max_dk = quick ? 256 : 2048;
    const bench::TimingPlan plan = quick ? bench::TimingPlan{3, 1, 0.002, 0.004}
                                         : bench::TimingPlan{std::max(report.plan.repeats, 3), 2, 0.01, 0.012};
    std::vector<bench::BenchShape> in_n, in_dk;
    for (Eigen::Index n = 16; n <= max_n; n *= 2) in_n.push_back({batch, n, d_model, 64});
    for (Eigen::Index dk = 8; dk <= max_dk; dk *= 2) in_dk.push_back({batch, 16, d_model, dk});
    report.scaling.push_back(bench::scaling_sweep("n", in_n, plan));
    bench::print_scaling(stdout, report.scaling.back(), report.gemm_gflops);
    report.scaling.push_back(bench::scaling_sweep("d_k", in_dk, plan));
    bench::print_scaling(stdout, report.scaling.back(), report.gemm_gflops);
  }

  report.peak_rss_kib = bench::peak_rss_kib();
  if (f64) bench::print_footer(stdout, report);  // the targets are judged on the float64 table
  if (!out.empty()) {
    bench::write_h5(out, report);
    std::printf("results stored in %s:/bench\n", out.c_str());
  }
  std::printf("bench took %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return 0;
}

}  // namespace sbx::cli
