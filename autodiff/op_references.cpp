#include "autodiff/op_references.hpp"

#include <cmath>
#include <limits>
#include <numbers>

namespace ad::reference {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

template <class F>
Matrix each(const Matrix& a, F f) {
  Matrix y(a.rows(), a.cols());
  for (Eigen::Index r = 0; r < a.rows(); ++r)
    for (Eigen::Index c = 0; c < a.cols(); ++c) y(r, c) = f(a(r, c));
  return y;
}

Matrix one_by_one(double v) {
  Matrix y(1, 1);
  y(0, 0) = v;
  return y;
}

// Σ_c exp(x[r, c]) over one row; masked entries (−inf) contribute exp(−inf) = 0.
double row_exp_sum(const Matrix& x, Eigen::Index r) {
  double total = 0.0;
  for (Eigen::Index c = 0; c < x.cols(); ++c) total += std::exp(x(r, c));
  return total;
}

bool row_fully_masked(const Matrix& x, Eigen::Index r) {
  for (Eigen::Index c = 0; c < x.cols(); ++c)
    if (x(r, c) != -kInf) return false;
  return true;
}

}  // namespace

Matrix matmul(const Matrix& a, const Matrix& b) {
  Matrix y(a.rows(), b.cols());
  for (Eigen::Index i = 0; i < a.rows(); ++i)
    for (Eigen::Index j = 0; j < b.cols(); ++j) {
      double total = 0.0;
      for (Eigen::Index k = 0; k < a.cols(); ++k) total += a(i, k) * b(k, j);
      y(i, j) = total;
    }
  return y;
}

Matrix transpose(const Matrix& a) {
  Matrix y(a.cols(), a.rows());
  for (Eigen::Index r = 0; r < a.rows(); ++r)
    for (Eigen::Index c = 0; c < a.cols(); ++c) y(c, r) = a(r, c);
  return y;
}

Matrix add(const Matrix& a, const Matrix& b, double sign) {
  Matrix y(a.rows(), a.cols());
  for (Eigen::Index r = 0; r < a.rows(); ++r)
    for (Eigen::Index c = 0; c < a.cols(); ++c) y(r, c) = a(r, c) + sign * b(b.rows() == 1 ? 0 : r, c);
  return y;
}

Matrix mul(const Matrix& a, const Matrix& b) {
  Matrix y(a.rows(), a.cols());
  for (Eigen::Index r = 0; r < a.rows(); ++r)
    for (Eigen::Index c = 0; c < a.cols(); ++c) y(r, c) = a(r, c) * b(r, c);
  return y;
}

Matrix scale(const Matrix& a, double s) {
  return each(a, [s](double v) { return s * v; });
}

Matrix sum(const Matrix& a) {
  double total = 0.0;
  for (Eigen::Index r = 0; r < a.rows(); ++r)
    for (Eigen::Index c = 0; c < a.cols(); ++c) total += a(r, c);
  return one_by_one(total);
}

Matrix mean(const Matrix& a) { return one_by_one(sum(a)(0, 0) / static_cast<double>(a.rows() * a.cols())); }

Matrix exp(const Matrix& a) {
  return each(a, [](double v) { return std::exp(v); });
}
Matrix log(const Matrix& a) {
  return each(a, [](double v) { return std::log(v); });
}
Matrix tanh(const Matrix& a) {
  return each(a, [](double v) { return std::tanh(v); });
}
Matrix relu(const Matrix& a) {
  return each(a, [](double v) { return v > 0.0 ? v : 0.0; });
}
Matrix gelu(const Matrix& a) {
  return each(a, [](double v) { return v * 0.5 * (1.0 + std::erf(v / std::numbers::sqrt2)); });
}

Matrix softmax_rows(const Matrix& x) {
  Matrix y = Matrix::Zero(x.rows(), x.cols());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    if (row_fully_masked(x, r)) continue;
    const double total = row_exp_sum(x, r);
    for (Eigen::Index c = 0; c < x.cols(); ++c) y(r, c) = std::exp(x(r, c)) / total;
  }
  return y;
}

Matrix log_softmax_rows(const Matrix& x) {
  Matrix y = Matrix::Zero(x.rows(), x.cols());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    if (row_fully_masked(x, r)) continue;
    const double log_total = std::log(row_exp_sum(x, r));
    for (Eigen::Index c = 0; c < x.cols(); ++c) y(r, c) = x(r, c) - log_total;
  }
  return y;
}

Matrix cross_entropy(const Matrix& logits, const std::vector<int>& targets) {
  double total = 0.0;
  int counted = 0;
  for (Eigen::Index r = 0; r < logits.rows(); ++r) {
    const int t = targets[static_cast<size_t>(r)];
    if (t < 0) continue;
    total += -std::log(std::exp(logits(r, t)) / row_exp_sum(logits, r));
    ++counted;
  }
  return one_by_one(counted > 0 ? total / counted : 0.0);
}

Matrix mean_squared_error(const Matrix& prediction, const Matrix& target) {
  double total = 0.0;
  for (Eigen::Index r = 0; r < prediction.rows(); ++r)
    for (Eigen::Index c = 0; c < prediction.cols(); ++c)
      total += (prediction(r, c) - target(r, c)) * (prediction(r, c) - target(r, c));
  return one_by_one(total / static_cast<double>(prediction.rows() * prediction.cols()));
}

Matrix layer_norm_rows(const Matrix& x, double eps) {
  Matrix y(x.rows(), x.cols());
  const double n = static_cast<double>(x.cols());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    double mu = 0.0;
    for (Eigen::Index c = 0; c < x.cols(); ++c) mu += x(r, c) / n;
    double var = 0.0;
    for (Eigen::Index c = 0; c < x.cols(); ++c) var += (x(r, c) - mu) * (x(r, c) - mu) / n;
    for (Eigen::Index c = 0; c < x.cols(); ++c) y(r, c) = (x(r, c) - mu) / std::sqrt(var + eps);
  }
  return y;
}

Matrix layer_norm_rows(const Matrix& x, const Matrix& gain, const Matrix& bias, double eps) {
  Matrix y = layer_norm_rows(x, eps);
  for (Eigen::Index r = 0; r < y.rows(); ++r)
    for (Eigen::Index c = 0; c < y.cols(); ++c) y(r, c) = y(r, c) * gain(0, c) + bias(0, c);
  return y;
}

Matrix l2_normalize_rows(const Matrix& x, double eps) {
  Matrix y(x.rows(), x.cols());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    double squares = 0.0;
    for (Eigen::Index c = 0; c < x.cols(); ++c) squares += x(r, c) * x(r, c);
    for (Eigen::Index c = 0; c < x.cols(); ++c) y(r, c) = x(r, c) / std::sqrt(squares + eps);
  }
  return y;
}

Matrix mask(const Matrix& logits, const BoolMatrix& hidden) {
  Matrix y(logits.rows(), logits.cols());
  for (Eigen::Index r = 0; r < logits.rows(); ++r)
    for (Eigen::Index c = 0; c < logits.cols(); ++c) y(r, c) = hidden(r, c) ? -kInf : logits(r, c);
  return y;
}

Matrix slice_cols(const Matrix& a, Eigen::Index first, Eigen::Index count) {
  Matrix y(a.rows(), count);
  for (Eigen::Index r = 0; r < a.rows(); ++r)
    for (Eigen::Index c = 0; c < count; ++c) y(r, c) = a(r, first + c);
  return y;
}

Matrix concat_cols(const Matrix& a, const Matrix& b) {
  Matrix y(a.rows(), a.cols() + b.cols());
  for (Eigen::Index r = 0; r < a.rows(); ++r) {
    for (Eigen::Index c = 0; c < a.cols(); ++c) y(r, c) = a(r, c);
    for (Eigen::Index c = 0; c < b.cols(); ++c) y(r, a.cols() + c) = b(r, c);
  }
  return y;
}

// Row i of sequence b is row b·nq + i; S[b·nq + i, j] = s·Σ_d Q[b·nq + i, d]·K[b·nk + j, d].
Matrix batched_scores(const Matrix& q, const Matrix& k, Eigen::Index batch, double scale) {
  const Eigen::Index nq = q.rows() / batch, nk = k.rows() / batch;
  Matrix y(q.rows(), nk);
  for (Eigen::Index b = 0; b < batch; ++b)
    for (Eigen::Index i = 0; i < nq; ++i)
      for (Eigen::Index j = 0; j < nk; ++j) {
        double total = 0.0;
        for (Eigen::Index d = 0; d < q.cols(); ++d) total += q(b * nq + i, d) * k(b * nk + j, d);
        y(b * nq + i, j) = scale * total;
      }
  return y;
}

// Z[b·nq + i, d] = Σ_j A[b·nq + i, j]·V[b·nk + j, d].
Matrix batched_weighted_sum(const Matrix& a, const Matrix& v, Eigen::Index batch) {
  const Eigen::Index nq = a.rows() / batch, nk = v.rows() / batch;
  Matrix y(a.rows(), v.cols());
  for (Eigen::Index b = 0; b < batch; ++b)
    for (Eigen::Index i = 0; i < nq; ++i)
      for (Eigen::Index d = 0; d < v.cols(); ++d) {
        double total = 0.0;
        for (Eigen::Index j = 0; j < nk; ++j) total += a(b * nq + i, j) * v(b * nk + j, d);
        y(b * nq + i, d) = total;
      }
  return y;
}

// Head h of an n×(h·w) matrix is its columns h·w … h·w+w−1, stacked as rows h·n … h·n+n−1.
Matrix split_heads(const Matrix& x, Eigen::Index heads) {
  const Eigen::Index n = x.rows(), w = x.cols() / heads;
  Matrix y(heads * n, w);
  for (Eigen::Index h = 0; h < heads; ++h)
    for (Eigen::Index i = 0; i < n; ++i)
      for (Eigen::Index j = 0; j < w; ++j) y(h * n + i, j) = x(i, h * w + j);
  return y;
}

Matrix merge_heads(const Matrix& x, Eigen::Index heads) {
  const Eigen::Index n = x.rows() / heads, w = x.cols();
  Matrix y(n, heads * w);
  for (Eigen::Index h = 0; h < heads; ++h)
    for (Eigen::Index i = 0; i < n; ++i)
      for (Eigen::Index j = 0; j < w; ++j) y(i, h * w + j) = x(h * n + i, j);
  return y;
}

Matrix gather_rows(const Matrix& table, const std::vector<int>& ids) {
  Matrix y(static_cast<Eigen::Index>(ids.size()), table.cols());
  for (size_t r = 0; r < ids.size(); ++r)
    for (Eigen::Index j = 0; j < table.cols(); ++j) y(static_cast<Eigen::Index>(r), j) = table(ids[r], j);
  return y;
}

Matrix attention(const Matrix& q, const Matrix& k, const Matrix& v, Eigen::Index batch, double scale, bool causal) {
  const Matrix logits = batched_scores(q, k, batch, scale);
  const Eigen::Index nq = q.rows() / batch;
  BoolMatrix hidden(logits.rows(), logits.cols());
  for (Eigen::Index r = 0; r < logits.rows(); ++r)
    for (Eigen::Index j = 0; j < logits.cols(); ++j) hidden(r, j) = causal && j > r % nq;
  return batched_weighted_sum(softmax_rows(mask(logits, hidden)), v, batch);
}

}  // namespace ad::reference
