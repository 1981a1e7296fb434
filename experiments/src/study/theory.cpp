#include "experiments/src/study/theory.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <functional>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <thread>

#include "autodiff/ops.hpp"
#include "experiments/src/io/h5_store.hpp"
#include "experiments/src/io/layout.hpp"
#include "experiments/src/io/run_file.hpp"
#include "experiments/src/study/text_format.hpp"
#include "experiments/src/user_error.hpp"
#include "models/attention_metrics.hpp"

namespace sbx::study {

namespace {

using Eigen::Index;
using Eigen::MatrixXd;

// ---- random numbers -------------------------------------------------------------------------------------

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// The 256-layer ziggurat for the standard normal: layer i covers |x| < x[i], the base layer (i = 0) holds
// the tail beyond R. Tables from the usual recurrence x[i+1] = f⁻¹(f(x[i]) + V/x[i]) with f(x) = e^{−x²/2}.
struct Ziggurat {
  static constexpr double kR = 3.6541528853610088;  // start of the tail
  static constexpr double kV = 0.00492867323399;    // area of each layer
  std::array<double, 257> x{};
  std::array<double, 257> f{};
  Ziggurat() {
    const auto pdf = [](double t) { return std::exp(-0.5 * t * t); };
    x[0] = kV / pdf(kR);
    x[1] = kR;
    for (size_t i = 1; i < 256; ++i) x[i + 1] = std::sqrt(-2.0 * std::log(kV / x[i] + pdf(x[i])));
    x[256] = 0.0;
    for (size_t i = 0; i < 257; ++i) f[i] = pdf(x[i]);
  }
};
const Ziggurat kZig;

// ---- small helpers --------------------------------------------------------------------------------------

double mean_of(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// Runs fn(0..count-1) on `threads` threads taking tasks in order; rethrows the first exception.
void parallel_for(size_t count, int threads, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  std::atomic<bool> failed{false};
  const auto worker = [&] {
    for (;;) {
      if (failed.load()) return;
      const size_t task = next.fetch_add(1);
      if (task >= count) return;
      try {
        fn(task);
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        failed.store(true);
      }
    }
  };
  const size_t n = std::min(count, static_cast<size_t>(std::max(1, threads)));
  std::vector<std::thread> pool;
  for (size_t i = 1; i < n; ++i) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
}

// Work is cut into chunks with fixed sizes, each with its own random stream: results do not depend on
// how many threads ran them.
constexpr std::uint64_t kStreamPairs = 1, kStreamRows = 2, kStreamUpstream = 3;
constexpr std::int64_t kPairChunk = 2000;   // (q, k) pairs per task
constexpr std::int64_t kRowChunk = 100;     // softmax rows per task
constexpr Index kBlockElements = 1 << 15;   // normals generated per batch (a few hundred KB, stays in cache)

// Dot products q·k of `count` independent pairs into out[0..count).
void pair_chunk(std::uint64_t seed, size_t d_index, std::int64_t chunk, Index d, Index count, double* out) {
  NormalRng rng(stream_seed(seed, kStreamPairs, d_index, static_cast<std::uint64_t>(chunk)));
  const Index block = std::max<Index>(1, kBlockElements / d);
  MatrixXd q(d, block), k(d, block);  // one vector per column
  for (Index done = 0; done < count;) {
    const Index b = std::min(block, count - done);
    rng.fill(q.data(), static_cast<size_t>(d * b));
    rng.fill(k.data(), static_cast<size_t>(d * b));
    Eigen::Map<Eigen::RowVectorXd>(out + done, b) = (q.leftCols(b).array() * k.leftCols(b).array()).colwise().sum();
    done += b;
  }
}

// Rows [first, first + count) of the unscaled score matrix: row r holds q_r·k_{r,j} for j < n.
void row_chunk(std::uint64_t seed, size_t d_index, std::int64_t chunk, Index d, Index n, Index first, Index count,
               MatrixXd& scores) {
  NormalRng rng(stream_seed(seed, kStreamRows, d_index, static_cast<std::uint64_t>(chunk)));
  const Index block = std::max<Index>(1, kBlockElements / (d * (n + 1)));
  MatrixXd q(d, block), k(d, n * block);
  for (Index done = 0; done < count;) {
    const Index b = std::min(block, count - done);
    rng.fill(q.data(), static_cast<size_t>(d * b));
    rng.fill(k.data(), static_cast<size_t>(d * n * b));
    for (Index r = 0; r < b; ++r)
      scores.row(first + done + r) = q.col(r).transpose() * k.middleCols(r * n, n);
    done += b;
  }
}


}  // namespace

// ---- public helpers -------------------------------------------------------------------------------------

double scale_factor(ScaleMode mode, int d_k) {
  const auto factor = mode.rule().fixed_factor;  // learned scales have none: the study does not use them
  return factor != nullptr ? factor(static_cast<double>(d_k)) : 0.0;
}

void TheoryConfig::validate() const {
  const auto out_of_range = [](const std::string& what, long long value, long long lo, long long hi) {
    if (value < lo || value > hi)
      throw UserError("sandbox theory: " + what + " must be between " + std::to_string(lo) + " and " +
                      std::to_string(hi) + " (got " + std::to_string(value) + ")");
  };
  out_of_range("--keys", keys, 2, kMaxKeys);
  out_of_range("--samples", samples, 2, kMaxSamples);
  if (max_dk < 1 || max_dk > kMaxDk || (max_dk & (max_dk - 1)) != 0)
    throw UserError("sandbox theory: --max-dk must be a power of 2 between 1 and " + std::to_string(kMaxDk) +
                    " (got " + std::to_string(max_dk) + ")");
  out_of_range("rows", rows, 1, kMaxRows);
  if (seed > static_cast<std::uint64_t>(INT64_MAX)) throw UserError("sandbox theory: --seed must be at most 2^63 - 1");
  if (threads < 0) throw UserError("sandbox theory: threads must be 0 (automatic) or more");
}

NormalRng::NormalRng(std::uint64_t seed) {
  std::uint64_t state = seed;
  for (auto& word : s_) word = splitmix64(state);
}

namespace {

inline std::uint64_t xoshiro_next(std::uint64_t* s) {  // xoshiro256++
  const std::uint64_t result = rotl(s[0] + s[3], 23) + s[0];
  const std::uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

inline double uniform_from(std::uint64_t* s) { return static_cast<double>(xoshiro_next(s) >> 11) * 0x1.0p-53; }

double normal_slow(std::uint64_t* s, size_t i, double u, double x);

// One ziggurat draw. The fast path (the point falls inside the layer's rectangle, ~99% of draws) is inline;
// the rest is out of line so that the state stays in registers in the fill loop.
inline double normal_from(std::uint64_t* s) {
  const std::uint64_t bits = xoshiro_next(s);
  const size_t i = bits & 0xff;                                                // layer: the low 8 bits
  const double u = 2.0 * (static_cast<double>(bits >> 11) * 0x1.0p-53) - 1.0;  // in [−1, 1): the high 53
  const double x = u * kZig.x[i];
  if (std::abs(x) < kZig.x[i + 1]) return x;
  return normal_slow(s, i, u, x);
}

[[gnu::noinline]] double normal_slow(std::uint64_t* s, size_t i, double u, double x) {
  if (i == 0) {  // the tail beyond R (Marsaglia's method)
    double tx, ty;
    do {
      tx = -std::log(1.0 - uniform_from(s)) / Ziggurat::kR;
      ty = -std::log(1.0 - uniform_from(s));
    } while (2.0 * ty < tx * tx);
    return u < 0 ? -(Ziggurat::kR + tx) : Ziggurat::kR + tx;
  }
  // The wedge between the rectangle and the curve: accept under the density, otherwise draw afresh.
  if (kZig.f[i + 1] + (kZig.f[i] - kZig.f[i + 1]) * uniform_from(s) < std::exp(-0.5 * x * x)) return x;
  return normal_from(s);
}

}  // namespace

std::uint64_t NormalRng::next() { return xoshiro_next(s_); }

double NormalRng::uniform() { return uniform_from(s_); }

double NormalRng::operator()() { return normal_from(s_); }

void NormalRng::fill(double* out, std::size_t count) {
  std::uint64_t s[4] = {s_[0], s_[1], s_[2], s_[3]};
  for (std::size_t i = 0; i < count; ++i) out[i] = normal_from(s);
  for (int k = 0; k < 4; ++k) s_[k] = s[k];
}

std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t kind, std::uint64_t d_index, std::uint64_t chunk) {
  std::uint64_t state = seed;
  std::uint64_t h = splitmix64(state);
  state = h ^ (kind * 0x100000001b3ULL);
  h = splitmix64(state);
  state = h ^ (d_index * 0xff51afd7ed558ccdULL);
  h = splitmix64(state);
  state = h ^ chunk;
  return splitmix64(state);
}

double sample_variance(const std::vector<double>& values) {
  if (values.size() < 2) throw std::invalid_argument("sample_variance: needs at least 2 values");
  const double mean = mean_of(values);
  double sum_sq = 0.0;
  for (double v : values) sum_sq += (v - mean) * (v - mean);
  return sum_sq / static_cast<double>(values.size() - 1);
}

double median(std::vector<double> values) {
  return values.empty() ? std::nan("") : models::median_in_place(values);
}

SoftmaxBackward softmax_backward_engine(const MatrixXd& scores, double scale, const MatrixXd& upstream) {
  ad::Tape tape;
  ad::Var raw = tape.constant(scores, /*needs_grad=*/true);
  ad::Var logits = ad::scale(raw, scale);
  ad::Var p = ad::softmax_rows(logits);
  tape.backward(p, upstream);  // the gradient of ⟨g, p⟩: what a loss with dL/dp = g sends back
  return {p.value(), logits.grad()};
}

MatrixXd softmax_jacobian(const Eigen::RowVectorXd& p) {
  MatrixXd j = -p.transpose() * p;
  j.diagonal() += p.transpose();
  return j;
}

// ‖diag(p) − ppᵀ‖_F² = Σ_i (p_i − p_i²)² + Σ_{i≠j} p_i² p_j² = Σp² − 2Σp³ + (Σp²)².
// When one weight p_m is within ε of 1 the three terms of the expansion are each ≈ 1 and their sum is
// ≈ 4ε², so once ε is below ~1e-8 rounding (1e-16) swamps it (it often comes out as exactly 0). Grouping
// by rows instead,
//   ‖J‖_F² = Σ_i p_i² [(1 − p_i)² + Σ_{j≠i} p_j²],
// and for the largest weight taking 1 − p_m = Σ_{j≠m} p_j and Σ_{j≠m} p_j² directly, nothing cancels
// (for every other i, p_i ≤ 1/2 and Σ_{j≠i} p_j² ≥ p_m² ≥ 1/n²). The squares are summed in long double,
// whose exponent range keeps weights down to the smallest doubles from underflowing when squared.
double softmax_jacobian_norm(const Eigen::RowVectorXd& p) {
  Index m = 0;
  p.maxCoeff(&m);
  long double s2 = 0.0L, rest1 = 0.0L, rest2 = 0.0L;
  for (Index j = 0; j < p.size(); ++j) {
    const long double pj = p(j);
    s2 += pj * pj;
    if (j != m) {
      rest1 += pj;
      rest2 += pj * pj;
    }
  }
  const long double pm = p(m);
  long double total = pm * pm * (rest1 * rest1 + rest2);
  for (Index i = 0; i < p.size(); ++i) {
    if (i == m) continue;
    const long double pi = p(i);
    total += pi * pi * ((1.0L - pi) * (1.0L - pi) + (s2 - pi * pi));
  }
  return static_cast<double>(std::sqrt(total));
}

double softmax_jacobian_norm_expanded(const Eigen::RowVectorXd& p) {
  const double s2 = p.array().square().sum();
  const double s3 = p.array().cube().sum();
  return std::sqrt(std::max(0.0, s2 - 2.0 * s3 + s2 * s2));
}

RowSummary summarize_rows(const SoftmaxBackward& softmax) {
  const MatrixXd& p = softmax.probabilities;
  const size_t rows = static_cast<size_t>(p.rows());
  std::vector<double> max_weight(rows), entropy(rows), jacobian(rows), grad(rows);
  double saturated = 0.0;
  for (Index r = 0; r < p.rows(); ++r) {
    const Eigen::RowVectorXd row = p.row(r);
    const size_t i = static_cast<size_t>(r);
    max_weight[i] = row.maxCoeff();
    double h = 0.0;
    for (Index j = 0; j < row.size(); ++j)
      if (row(j) > 0.0) h -= row(j) * std::log(row(j));
    entropy[i] = h;
    jacobian[i] = softmax_jacobian_norm(row);
    grad[i] = softmax.logit_grad.row(r).norm();
    if (max_weight[i] > 0.99) saturated += 1.0;
  }
  RowSummary s;
  s.max_weight_mean = mean_of(max_weight);
  s.max_weight_median = median(max_weight);
  s.entropy_mean = mean_of(entropy);
  s.saturated_fraction = rows == 0 ? 0.0 : saturated / static_cast<double>(rows);
  s.jacobian_norm_mean = mean_of(jacobian);
  s.jacobian_norm_median = median(jacobian);
  s.logit_grad_mean = mean_of(grad);
  s.logit_grad_median = median(grad);
  return s;
}

// ---- the Monte Carlo ------------------------------------------------------------------------------------

TheoryResult run_theory(const TheoryConfig& config) {
  config.validate();
  TheoryResult result;
  result.config = config;
  for (int d = 1; d <= config.max_dk; d *= 2) result.d_k.push_back(d);
  const size_t dims = result.d_k.size();
  const Index n = config.keys, rows = config.rows;
  const std::int64_t pairs = config.samples;

  std::vector<std::vector<double>> dots(dims, std::vector<double>(static_cast<size_t>(pairs)));
  std::vector<MatrixXd> scores(dims, MatrixXd(rows, n));

  // The tasks, the largest d_k first so that the threads finish together.
  struct Task {
    bool pairs;
    size_t d_index;
    std::int64_t chunk;
  };
  std::vector<Task> tasks;
  for (size_t di = dims; di-- > 0;) {
    for (std::int64_t c = 0; c * kPairChunk < pairs; ++c) tasks.push_back({true, di, c});
    for (std::int64_t c = 0; c * kRowChunk < rows; ++c) tasks.push_back({false, di, c});
  }
  const int threads =
      config.threads > 0 ? config.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  parallel_for(tasks.size(), threads, [&](size_t t) {
    const Task& task = tasks[t];
    const Index d = result.d_k[task.d_index];
    if (task.pairs) {
      const std::int64_t first = task.chunk * kPairChunk;
      pair_chunk(config.seed, task.d_index, task.chunk, d, std::min(kPairChunk, pairs - first),
                 dots[task.d_index].data() + first);
    } else {
      const Index first = task.chunk * kRowChunk;
      row_chunk(config.seed, task.d_index, task.chunk, d, n, first, std::min<Index>(kRowChunk, rows - first),
                scores[task.d_index]);
    }
  });

  for (size_t k = 0; k < kScaleModes.size(); ++k) result.scales[k].mode = kScaleModes[k];
  for (size_t di = 0; di < dims; ++di) {
    const int d = static_cast<int>(result.d_k[di]);
    result.var_qk.push_back(sample_variance(dots[di]));
    std::vector<double> scaled = dots[di];
    for (double& v : scaled) v /= std::sqrt(static_cast<double>(d));
    result.var_qk_scaled.push_back(sample_variance(scaled));

    // One upstream gradient g per row, shared by the three scales (so they are compared on equal terms).
    MatrixXd upstream(rows, n);
    NormalRng rng(stream_seed(config.seed, kStreamUpstream, di, 0));
    for (Index r = 0; r < rows; ++r)
      for (Index j = 0; j < n; ++j) upstream(r, j) = rng();

    for (size_t k = 0; k < kScaleModes.size(); ++k) {
      const double scale = scale_factor(kScaleModes[k], d);
      const RowSummary s = summarize_rows(softmax_backward_engine(scores[di], scale, upstream));
      ScaleStats& out = result.scales[k];
      out.max_weight_mean.push_back(s.max_weight_mean);
      out.max_weight_median.push_back(s.max_weight_median);
      out.entropy_mean.push_back(s.entropy_mean);
      out.saturated_fraction.push_back(s.saturated_fraction);
      out.jacobian_norm_mean.push_back(s.jacobian_norm_mean);
      out.jacobian_norm_median.push_back(s.jacobian_norm_median);
      out.logit_grad_mean.push_back(s.logit_grad_mean);
      out.logit_grad_median.push_back(s.logit_grad_median);
    }
  }
  return result;
}

// ---- output ---------------------------------------------------------------------------------------------

void check_theory_output(const std::string& path) {
  if (path.empty()) throw UserError("sandbox theory: --out FILE.h5 is required");
  io::check_can_save(path, {}, /*overwrite=*/true);  // directory, missing directory, non-HDF5 file
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? "." : parent.string();
  if (::access(dir.c_str(), W_OK | X_OK) != 0) throw UserError(path + ": directory " + dir + " is not writable");
}

void write_theory(const std::string& path, const TheoryResult& result) {
  namespace lo = io::layout::theory;
  const TheoryConfig& c = result.config;
  io::H5Transaction transaction(path);
  {
    H5::H5File& file = transaction.file();
    io::delete_path(file, lo::group);
    H5::Group group = file.createGroup(lo::group);
    io::set_attr(group, lo::keys, static_cast<std::int64_t>(c.keys));
    io::set_attr(group, lo::samples, static_cast<std::int64_t>(c.samples));
    io::set_attr(group, lo::rows, static_cast<std::int64_t>(c.rows));
    io::set_attr(group, lo::seed, static_cast<std::int64_t>(c.seed));
    io::set_attr(group, lo::description,
                 std::string("Monte Carlo with q, k ~ N(0, I_{d_k}). var_qk, var_qk_scaled: sample variances of q.k and "
                             "q.k/sqrt(d_k) over `samples` pairs. <scale>/*: over `rows` rows of `keys` logits "
                             "s*(q.k_j), s = 1 (none), 1/sqrt(d_k) (sqrt), 1/d_k (linear); saturated = largest "
                             "weight > 0.99; jacobian_norm = Frobenius norm of diag(p) - pp^T; logit_grad = norm of "
                             "(diag(p) - pp^T) g, g ~ N(0, I), from the engine's backward pass"));
    io::write_int_vector(group, lo::d_k, result.d_k);
    io::write_vector(group, lo::var_qk, result.var_qk);
    io::write_vector(group, lo::var_qk_scaled, result.var_qk_scaled);
    for (const ScaleStats& s : result.scales) {
      const std::string scale = scale_name(s.mode);
      io::write_vector(group, lo::per_scale(scale, lo::max_weight_mean), s.max_weight_mean);
      io::write_vector(group, lo::per_scale(scale, lo::max_weight_median), s.max_weight_median);
      io::write_vector(group, lo::per_scale(scale, lo::entropy_mean), s.entropy_mean);
      io::write_vector(group, lo::per_scale(scale, lo::saturated_fraction), s.saturated_fraction);
      io::write_vector(group, lo::per_scale(scale, lo::jacobian_norm_mean), s.jacobian_norm_mean);
      io::write_vector(group, lo::per_scale(scale, lo::jacobian_norm_median), s.jacobian_norm_median);
      io::write_vector(group, lo::per_scale(scale, lo::logit_grad_mean), s.logit_grad_mean);
      io::write_vector(group, lo::per_scale(scale, lo::logit_grad_median), s.logit_grad_median);
    }
    io::write_root_attributes(file);
  }
  transaction.commit();
}

std::string format_theory_report(const TheoryResult& result) {
  const TheoryConfig& c = result.config;
  const size_t dims = result.d_k.size();
  std::string out;
  out += format("Monte Carlo with q and k drawn with independent N(0, 1) components (seed %llu).\n",
                static_cast<unsigned long long>(c.seed));
  out += format("  Var(q·k), Var(q·k/√d_k): sample variances over %lld independent (q, k) pairs per d_k "
                "(theory: d_k and 1).\n",
                static_cast<long long>(c.samples));
  out += format("  Softmax: %d rows per d_k, each one query against %d keys, logits s·(q·k_j), for three scales s.\n",
                c.rows, c.keys);
  out += format("  max w  = median over rows of the largest softmax weight (equal weights would give 1/%d = %.4f)\n",
                c.keys, 1.0 / c.keys);
  out += "  sat %  = percentage of rows whose largest weight is above 0.99 (saturated)\n";
  out += "  grad   = median over rows of the norm of the gradient reaching the logits, (diag(p) − ppᵀ)·g with\n"
         "           g ~ N(0, I), computed by the engine's backward pass. It is taken at the softmax input s·(q·k_j);\n"
         "           what reaches q (and W_Q) is s·Σ_j grad_j·k_j, with |k_j| ≈ √d_k: a further factor of about\n"
         "           s·√d_k, i.e. √d_k for s = 1, 1 for s = 1/√d_k and 1/√d_k for s = 1/d_k (a scale argument,\n"
         "           not measured here).\n\n";
  // Columns: d_k (5) Var(q·k) (10) Var(q·k/√d_k) (14), then per scale " | " max w (5) sat % (6) grad (10).
  const auto centered = [](const std::string& text, size_t width) {
    size_t shown = 0;  // code points, not bytes: the labels hold · and √
    for (unsigned char ch : text) shown += (ch & 0xC0) != 0x80;
    const size_t left = shown < width ? (width - shown) / 2 : 0;
    return std::string(left, ' ') + text + std::string(shown < width ? width - shown - left : 0, ' ');
  };
  out += std::string(30, ' ');
  for (const ScaleStats& s : result.scales) {
    out += " |" + centered(s.mode.rule().study_label, 23);
  }
  while (out.back() == ' ') out.pop_back();
  out += "\n";
  out += "  d_k   Var(q·k) Var(q·k/√d_k)";
  for (size_t k = 0; k < result.scales.size(); ++k) out += " | max w  sat %      grad";
  out += "\n";
  for (size_t i = 0; i < dims; ++i) {
    out += format("%5lld %10.3f %13.4f", static_cast<long long>(result.d_k[i]), result.var_qk[i], result.var_qk_scaled[i]);
    for (const ScaleStats& s : result.scales)
      out += format(" | %5.3f %6.1f %9.2e", s.max_weight_median[i], 100.0 * s.saturated_fraction[i], s.logit_grad_median[i]);
    out += "\n";
  }
  out += "\n";

  // Closing lines, all read off the numbers above.
  double worst = 0.0;
  for (size_t i = 0; i < dims; ++i)
    worst = std::max(worst, std::abs(result.var_qk[i] / static_cast<double>(result.d_k[i]) - 1.0));
  const auto expected_error = [&](double d) { return std::sqrt((2.0 + 6.0 / d) / static_cast<double>(c.samples)); };
  out += format("Var(q·k) / d_k stays within %.1f%% of 1 for every d_k (the sampling error to expect from %lld pairs\n"
                "is %.1f%% at d_k = 1 and %.1f%% at d_k = %d).\n",
                100.0 * worst, static_cast<long long>(c.samples), 100.0 * expected_error(1.0),
                100.0 * expected_error(c.max_dk), c.max_dk);
  if (dims >= 2) {
    const ScaleStats& none = result.scales[0];
    const ScaleStats& sq = result.scales[1];
    const ScaleStats& lin = result.scales[2];
    const size_t last = dims - 1;
    const long long top = static_cast<long long>(result.d_k[last]);
    const auto range = [](const std::vector<double>& v, const char* fmt, double factor) {
      const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
      const std::string a = format(fmt, factor * *lo), b = format(fmt, factor * *hi);
      return a == b ? "at " + a : "between " + a + " and " + b;
    };
    out += format("s = 1:      saturated rows go from %.1f%% at d_k = 1 to %.1f%% at d_k = %lld, and the median\n"
                  "            gradient reaching the logits from %.2e to %.2e.\n",
                  100.0 * none.saturated_fraction[0], 100.0 * none.saturated_fraction[last], top,
                  none.logit_grad_median[0], none.logit_grad_median[last]);
    out += format("s = 1/√d_k: saturated rows stay %s, and the median gradient %s,\n"
                  "            for every d_k.\n",
                  range(sq.saturated_fraction, "%.1f%%", 100.0).c_str(), range(sq.logit_grad_median, "%.2e", 1.0).c_str());
    out += format("s = 1/d_k:  the median largest weight goes from %.3f at d_k = 1 to %.3f at d_k = %lld (equal weights\n"
                  "            give %.4f)%s\n",
                  lin.max_weight_median[0], lin.max_weight_median[last], top, 1.0 / c.keys,
                  lin.max_weight_median[last] < 1.5 / c.keys ? ": the logits shrink toward 0 and attention blurs into an average."
                                                             : ".");
  }
  return out;
}

}  // namespace sbx::study
