#pragma once
// Printing and storing the results of `sandbox bench`.
#include <cstdio>
#include <string>
#include <vector>

#include "experiments/src/bench/bench.hpp"

namespace sbx::bench {

struct BenchReport {
  bool quick = false;
  TimingPlan plan;
  double gemm_gflops = 0.0;
  double gemm_gflops_float = 0.0;  // measured only when float32 is timed
  Eigen::Index gemm_size = 512;
  std::vector<ShapeResult> shapes;
  std::vector<PhaseAllocations> phases;  // per shape, filled only where the engine allocated
  std::vector<ScalingSweep> scaling;     // empty without --scaling
  std::vector<HeadsResult> heads;        // multi-head shapes (engine only)
  std::vector<ThreadsResult> threads;    // with --threads
  std::vector<Float32Result> float32;    // with --precision float32 or both (printed, not stored)
  long peak_rss_kib = 0;
  bool counts_c_allocations = true;
};

// The performance targets and whether they hold.
struct Target {
  std::string text;
  bool holds = false;
  std::string detail;
};
std::vector<Target> evaluate_targets(const BenchReport& report);
// The shape the GEMM target is judged at: the one with the most FLOPs per step.
const ShapeResult& largest_shape(const BenchReport& report);
std::string shape_name(const BenchShape& s);  // "32x16x64x8" (batch x n x d_model x d_k)

void print_header(std::FILE* out, const BenchReport& report);
void print_shapes(std::FILE* out, const BenchReport& report);
// With each point's GFLOP/s as a percentage of this machine's GEMM rate (`gemm_gflops`).
void print_scaling(std::FILE* out, const ScalingSweep& sweep, double gemm_gflops);
void print_heads(std::FILE* out, const BenchReport& report);
void print_float32(std::FILE* out, const BenchReport& report);
void print_threads(std::FILE* out, const BenchReport& report);
void print_footer(std::FILE* out, const BenchReport& report);

// Checks, before anything runs, that `path` can take the results: not a directory, the directory exists
// and is writable, and an existing file there is HDF5. Throws sbx::UserError (one line) otherwise.
void check_out_path(const std::string& path);
// Writes the group /bench (replacing an earlier one) through an atomic sbx::io::H5Transaction.
void write_h5(const std::string& path, const BenchReport& report);

}  // namespace sbx::bench
