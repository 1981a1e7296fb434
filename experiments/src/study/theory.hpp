#pragma once
// `sandbox theory`: a Monte Carlo of what happens to q·k and to the softmax as d_k grows.
//
// For every d_k in {1, 2, 4, ..., max_dk}, q and k have independent N(0, 1) components:
//   * Var(q·k) and Var(q·k/√d_k) are estimated from `samples` independent (q, k) pairs
//     (the true values are d_k and 1);
//   * `rows` rows, each one query against `keys` keys, give logits s·(q·k_j) for the three scales
//     s = 1 ("none"), 1/√d_k ("sqrt") and 1/d_k ("linear"). The softmax and its backward pass (seeded with a
//     random upstream gradient g ~ N(0, I)) are computed by the engine; per row we record the largest
//     weight, the entropy, whether the row is saturated (largest weight > 0.99), the Frobenius norm of the
//     softmax Jacobian diag(p) − ppᵀ (closed form from p) and the norm of the gradient reaching the logits.
//
// Every (d_k, chunk) of work draws from its own random stream derived from the seed, so the numbers depend
// on the seed only, never on the number of threads.
#include <Eigen/Core>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "models/attention.hpp"

namespace sbx::study {

// The model's scale modes and their names (models/attention.hpp, the HDF5 group names here); the study
// compares the three fixed ones.
using models::ScaleMode;
using models::scale_name;
inline constexpr std::array<ScaleMode, 3> kScaleModes = {ScaleMode::None, ScaleMode::Sqrt, ScaleMode::Linear};
double scale_factor(ScaleMode mode, int d_k);  // 1, 1/√d_k, 1/d_k (a fixed mode; 0 for the learned ones)

struct TheoryConfig {
  int keys = 16;                // n: keys per row
  std::int64_t samples = 40000; // M: (q, k) pairs per d_k for the variances
  std::uint64_t seed = 1;
  int max_dk = 4096;            // a power of 2, at most kMaxDk
  int rows = 4000;              // R: rows per d_k for the softmax statistics
  int threads = 0;              // 0: one per hardware thread

  static constexpr int kMaxDk = 65536;
  static constexpr int kMaxKeys = 1024;
  static constexpr std::int64_t kMaxSamples = 1'000'000;  // the dot products are kept: 8 MB per d_k
  static constexpr int kMaxRows = 100'000;

  // Throws sbx::UserError with one line naming the bad value (prefixed with "sandbox theory: ").
  void validate() const;
};

// One scale's statistics, one entry per d_k.
struct ScaleStats {
  ScaleMode mode = ScaleMode::None;
  std::vector<double> max_weight_mean, max_weight_median;
  std::vector<double> entropy_mean;        // nats
  std::vector<double> saturated_fraction;  // rows whose largest weight is > 0.99
  std::vector<double> jacobian_norm_mean, jacobian_norm_median;
  std::vector<double> logit_grad_mean, logit_grad_median;
};

struct TheoryResult {
  TheoryConfig config;
  std::vector<std::int64_t> d_k;
  std::vector<double> var_qk;         // sample variance of q·k (unbiased, around the sample mean)
  std::vector<double> var_qk_scaled;  // sample variance of q·k/√d_k
  std::array<ScaleStats, 3> scales;   // in the order of kScaleModes
};

// Runs the whole Monte Carlo. Validates the config first.
TheoryResult run_theory(const TheoryConfig& config);

// ---- Building blocks (exposed for the tests) -----------------------------------------------------------

// Standard normal numbers: xoshiro256++ uniform bits turned into N(0, 1) by the 256-layer ziggurat
// (Marsaglia and Tsang, 2000). About 2 ns a number, which keeps d_k = 4096 cheap.
class NormalRng {
 public:
  explicit NormalRng(std::uint64_t seed);
  double operator()();
  double uniform();  // in [0, 1)
  void fill(double* out, std::size_t count);

 private:
  std::uint64_t next();
  std::uint64_t s_[4];
};

// The seed of the random stream for one piece of work: a hash of (seed, kind, d_k index, chunk).
std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t kind, std::uint64_t d_index, std::uint64_t chunk);

// Unbiased sample variance (divisor M − 1) around the sample mean, two passes. Needs at least 2 values.
double sample_variance(const std::vector<double>& values);
double median(std::vector<double> values);  // average of the two middle values for an even count

// The softmax of s·scores and its backward pass, both computed by the engine (ad::scale, ad::softmax_rows,
// Tape::backward seeded with `upstream`). logit_grad is the gradient reaching the softmax's input (the
// scaled logits): row by row (diag(p) − ppᵀ)·g.
struct SoftmaxBackward {
  Eigen::MatrixXd probabilities;
  Eigen::MatrixXd logit_grad;
};
SoftmaxBackward softmax_backward_engine(const Eigen::MatrixXd& scores, double scale, const Eigen::MatrixXd& upstream);

// diag(p) − ppᵀ as an explicit matrix (for checking).
Eigen::MatrixXd softmax_jacobian(const Eigen::RowVectorXd& p);
// ‖diag(p) − ppᵀ‖_F in closed form. Algebraically Σp² − 2Σp³ + (Σp²)², but evaluated in a form that does
// not cancel when one weight is close to 1 (there the expanded sum loses every digit; see theory.cpp).
double softmax_jacobian_norm(const Eigen::RowVectorXd& p);
// The same quantity in the textbook expansion Σp² − 2Σp³ + (Σp²)² (square-rooted, clamped at 0): kept so
// that a test can show where it breaks down.
double softmax_jacobian_norm_expanded(const Eigen::RowVectorXd& p);

// Per-row statistics of one (d_k, scale) cell, averaged/medianed over rows.
struct RowSummary {
  double max_weight_mean = 0, max_weight_median = 0, entropy_mean = 0, saturated_fraction = 0;
  double jacobian_norm_mean = 0, jacobian_norm_median = 0, logit_grad_mean = 0, logit_grad_median = 0;
};
RowSummary summarize_rows(const SoftmaxBackward& softmax);

// ---- Output ---------------------------------------------------------------------------------------------

// Refuses, before any work is done, an output path the write would refuse (empty, a directory, a missing
// or unwritable directory, an existing file that is not HDF5). Throws UserError.
void check_theory_output(const std::string& path);
// Writes /theory (replacing an existing /theory group and keeping everything else) in one atomic
// H5Transaction, plus the root attributes.
void write_theory(const std::string& path, const TheoryResult& result);
// The stdout report: a header, one row per d_k, closing lines.
std::string format_theory_report(const TheoryResult& result);

}  // namespace sbx::study
