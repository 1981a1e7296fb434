// Forward and backward of every op, side by side. Conventions:
//  - `g` is the node's adjoint dL/dY; each backward ADDS its contribution to its inputs' adjoints, so a
//    node used several times (X feeding Q, K and V) receives the sum.
//  - An input whose needs_grad is false gets nothing (data never needs an adjoint).
//  - Products write with noalias() into storage that already has the right size, so a warmed-up step
//    allocates nothing.
//  - Every function is a template over S, the scalar of the tape (float or double), compiled for both at
//    the end of this file. Fixed numbers given as double are rounded to S once; in double every expression
//    is the one it was before the engine had a float version, so double results keep their bits.
//  - The ops over blocks of rows (batched attention products, moving heads) are in block_ops.cpp.
#include "autodiff/ops.hpp"

#include "autodiff/op_support.hpp"
#include "autodiff/workers.hpp"

#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <string>

namespace ad {
using detail::adjoint;
using detail::input;
using detail::kExpFloor;
using detail::kInf;
using detail::reuse_state;
using detail::rows_per_block;
using detail::shape_error;

namespace {

template <class S>
bool is_row_broadcast(const MatrixOf<S>& a, const MatrixOf<S>& b) { return b.rows() == 1 && b.cols() == a.cols() && a.rows() != 1; }

}  // namespace

// ---------------------------------------------------------------------------------------------- matmul
// With workers, each product is split by rows of its result (workers.hpp says why the bits stay the same);
// dB's rows are A's columns.
template <class S>
static void matmul_backward(TapeOf<S>& t, NodeOf<S>& n) {
  const MatrixOf<S>& a = input(t, n, 0).value;
  const MatrixOf<S>& b = input(t, n, 1).value;
  const double work = static_cast<double>(a.rows()) * a.cols() * b.cols();
  if (MatrixOf<S>* ga = adjoint(t, n, 0))  // dA = G Bᵀ
    parallel_ranges(t.workers(), ga->rows(), kRowGranule, work, [&](Eigen::Index r, Eigen::Index count) {
      ga->middleRows(r, count).noalias() += n.grad.middleRows(r, count) * b.transpose();
    });
  if (MatrixOf<S>* gb = adjoint(t, n, 1))  // dB = Aᵀ G
    parallel_ranges(t.workers(), gb->rows(), kRowGranule, work, [&](Eigen::Index r, Eigen::Index count) {
      gb->middleRows(r, count).noalias() += a.middleCols(r, count).transpose() * n.grad;
    });
}
template <class S>
VarOf<S> matmul(VarOf<S> a, VarOf<S> b) {
  if (a.cols() != b.rows()) shape_error("matmul", a.value(), b.value());
  NodeOf<S>& n = a.tape()->push(OpKind::Matmul, matmul_backward<S>, {a, b});
  n.value.resize(a.rows(), b.cols());
  const MatrixOf<S>& av = a.value();
  const MatrixOf<S>& bv = b.value();
  const double work = static_cast<double>(av.rows()) * av.cols() * bv.cols();
  parallel_ranges(a.tape()->workers(), av.rows(), kRowGranule, work, [&](Eigen::Index r, Eigen::Index count) {
    n.value.middleRows(r, count).noalias() = av.middleRows(r, count) * bv;
  });
  return a.tape()->last();
}

// ------------------------------------------------------------------------------------------- transpose
template <class S>
static void transpose_backward(TapeOf<S>& t, NodeOf<S>& n) {
  if (MatrixOf<S>* ga = adjoint(t, n, 0)) *ga += n.grad.transpose();
}
template <class S>
VarOf<S> transpose(VarOf<S> a) {
  NodeOf<S>& n = a.tape()->push(OpKind::Transpose, transpose_backward<S>, {a});
  n.value = a.value().transpose();
  return a.tape()->last();
}

// ----------------------------------------------------------------------------------------- add / sub
// b is either a's shape or a 1×cols row added to every row; its adjoint is then the column sums of g.
template <class S>
static void add_sub_backward(TapeOf<S>& t, NodeOf<S>& n) {
  const S sign = std::get<AddSubState<S>>(n.state).sign;  // +1 for add, −1 for sub
  if (MatrixOf<S>* ga = adjoint(t, n, 0)) *ga += n.grad;
  if (MatrixOf<S>* gb = adjoint(t, n, 1)) {
    if (gb->rows() == n.grad.rows()) *gb += sign * n.grad;
    else gb->noalias() += sign * n.grad.colwise().sum();
  }
}
template <class S>
static VarOf<S> add_or_sub(VarOf<S> a, VarOf<S> b, S sign, OpKind op, const char* name) {
  const bool broadcast = is_row_broadcast(a.value(), b.value());
  if (!broadcast && (a.rows() != b.rows() || a.cols() != b.cols())) shape_error(name, a.value(), b.value());
  NodeOf<S>& n = a.tape()->push(op, add_sub_backward<S>, {a, b});
  reuse_state<AddSubState<S>>(n).sign = sign;
  if (broadcast) {  // column by column: `a.rowwise() + s·b.row(0)` allocated on every call
    n.value.resize(a.rows(), a.cols());
    for (Eigen::Index c = 0; c < a.cols(); ++c) n.value.col(c).array() = a.value().col(c).array() + sign * b.value()(0, c);
  } else {
    n.value = a.value() + sign * b.value();
  }
  return a.tape()->last();
}
template <class S>
VarOf<S> add(VarOf<S> a, VarOf<S> b) { return add_or_sub(a, b, S(+1), OpKind::Add, "add"); }
template <class S>
VarOf<S> sub(VarOf<S> a, VarOf<S> b) { return add_or_sub(a, b, S(-1), OpKind::Sub, "sub"); }

// --------------------------------------------------------------------------------------------- mul
template <class S>
static void mul_backward(TapeOf<S>& t, NodeOf<S>& n) {
  if (MatrixOf<S>* ga = adjoint(t, n, 0)) ga->array() += n.grad.array() * input(t, n, 1).value.array();
  if (MatrixOf<S>* gb = adjoint(t, n, 1)) gb->array() += n.grad.array() * input(t, n, 0).value.array();
}
template <class S>
VarOf<S> mul(VarOf<S> a, VarOf<S> b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) shape_error("mul", a.value(), b.value());
  NodeOf<S>& n = a.tape()->push(OpKind::Mul, mul_backward<S>, {a, b});
  n.value = a.value().cwiseProduct(b.value());
  return a.tape()->last();
}

// ------------------------------------------------------------------------------------- scale, scale_by
template <class S>
static void scale_backward(TapeOf<S>& t, NodeOf<S>& n) {
  if (MatrixOf<S>* ga = adjoint(t, n, 0)) *ga += std::get<FactorState<S>>(n.state).factor * n.grad;
}
template <class S>
VarOf<S> scale(VarOf<S> a, double s) {
  NodeOf<S>& n = a.tape()->push(OpKind::Scale, scale_backward<S>, {a});
  reuse_state<FactorState<S>>(n).factor = static_cast<S>(s);
  n.value = static_cast<S>(s) * a.value();
  return a.tape()->last();
}

template <class S>
static void scale_by_backward(TapeOf<S>& t, NodeOf<S>& n) {
  const MatrixOf<S>& a = input(t, n, 0).value;
  const S s = input(t, n, 1).value(0, 0);
  if (MatrixOf<S>* ga = adjoint(t, n, 0)) *ga += s * n.grad;
  if (MatrixOf<S>* gs = adjoint(t, n, 1)) (*gs)(0, 0) += n.grad.cwiseProduct(a).sum();  // dL/ds = Σ G⊙A
}
template <class S>
VarOf<S> scale_by(VarOf<S> a, VarOf<S> s) {
  if (s.rows() != 1 || s.cols() != 1) shape_error("scale_by (s must be 1x1)", a.value(), s.value());
  NodeOf<S>& n = a.tape()->push(OpKind::ScaleBy, scale_by_backward<S>, {a, s});
  n.value = s.value()(0, 0) * a.value();
  return a.tape()->last();
}

// -------------------------------------------------------------------------------------- sum, mean
template <class S>
static void sum_mean_backward(TapeOf<S>& t, NodeOf<S>& n) {
  if (MatrixOf<S>* ga = adjoint(t, n, 0)) ga->array() += n.grad(0, 0) * std::get<FactorState<S>>(n.state).factor;  // 1 or 1/size
}
template <class S>
VarOf<S> sum(VarOf<S> a) {
  NodeOf<S>& n = a.tape()->push(OpKind::Sum, sum_mean_backward<S>, {a});
  reuse_state<FactorState<S>>(n).factor = S(1);
  n.value.resize(1, 1);
  n.value(0, 0) = a.value().sum();
  return a.tape()->last();
}
template <class S>
VarOf<S> mean(VarOf<S> a) {
  NodeOf<S>& n = a.tape()->push(OpKind::Mean, sum_mean_backward<S>, {a});
  reuse_state<FactorState<S>>(n).factor = static_cast<S>(1.0 / static_cast<double>(a.value().size()));
  n.value.resize(1, 1);
  n.value(0, 0) = a.value().mean();
  return a.tape()->last();
}

// ------------------------------------------------------------------------------ elementwise functions
template <class S>
static void exp_backward(TapeOf<S>& t, NodeOf<S>& n) {
  if (MatrixOf<S>* ga = adjoint(t, n, 0)) ga->array() += n.grad.array() * n.value.array();  // (eˣ)' = eˣ
}
template <class S>
VarOf<S> exp(VarOf<S> a) {
  NodeOf<S>& n = a.tape()->push(OpKind::Exp, exp_backward<S>, {a});
  n.value = a.value().array().exp().matrix();
  return a.tape()->last();
}

template <class S>
static void log_backward(TapeOf<S>& t, NodeOf<S>& n) {
  if (MatrixOf<S>* ga = adjoint(t, n, 0)) ga->array() += n.grad.array() / input(t, n, 0).value.array();
}
template <class S>
VarOf<S> log(VarOf<S> a) {
  NodeOf<S>& n = a.tape()->push(OpKind::Log, log_backward<S>, {a});
  n.value = a.value().array().log().matrix();
  return a.tape()->last();
}

template <class S>
static void tanh_backward(TapeOf<S>& t, NodeOf<S>& n) {
  if (MatrixOf<S>* ga = adjoint(t, n, 0)) ga->array() += n.grad.array() * (S(1) - n.value.array().square());
}
template <class S>
VarOf<S> tanh(VarOf<S> a) {
  NodeOf<S>& n = a.tape()->push(OpKind::Tanh, tanh_backward<S>, {a});
  n.value = a.value().array().tanh().matrix();
  return a.tape()->last();
}

template <class S>
static void relu_backward(TapeOf<S>& t, NodeOf<S>& n) {
  if (MatrixOf<S>* ga = adjoint(t, n, 0))
    ga->array() += (input(t, n, 0).value.array() > S(0)).select(n.grad.array(), S(0));
}
template <class S>
VarOf<S> relu(VarOf<S> a) {
  NodeOf<S>& n = a.tape()->push(OpKind::Relu, relu_backward<S>, {a});
  n.value = a.value().cwiseMax(S(0));
  return a.tape()->last();
}

// gelu(x) = x·Φ(x), Φ the standard normal CDF; gelu'(x) = Φ(x) + x·φ(x).
template <class S>
static S normal_cdf(S x) { return S(0.5) * std::erfc(-x / std::numbers::sqrt2_v<S>); }
template <class S>
static S normal_pdf(S x) { return std::exp(S(-0.5) * x * x) / std::sqrt(S(2) * std::numbers::pi_v<S>); }
template <class S>
static void gelu_backward(TapeOf<S>& t, NodeOf<S>& n) {
  if (MatrixOf<S>* ga = adjoint(t, n, 0)) {
    const MatrixOf<S>& x = input(t, n, 0).value;
    ga->array() += n.grad.array() * x.array().unaryExpr([](S v) { return normal_cdf(v) + v * normal_pdf(v); });
  }
}
template <class S>
VarOf<S> gelu(VarOf<S> a) {
  NodeOf<S>& n = a.tape()->push(OpKind::Gelu, gelu_backward<S>, {a});
  n.value = a.value().unaryExpr([](S v) { return v * normal_cdf(v); });
  return a.tape()->last();
}

// ---------------------------------------------------------------------------------------- softmax_rows
// p = exp(x − max) / Σ exp(x − max), row by row. A row whose max is −inf (fully masked) is all zeros.
// Matrices are column-major, so the work goes column by column (contiguous, vectorised exp) with the
// per-row max and sum kept in `rows` (a rows×1 scratch owned by the node): walking a row of a
// column-major matrix is strided, does not vectorise, and with B·n a multiple of 512 every element of a
// row falls in the same L1 set.
template <class S>
static void softmax_rows_forward(const MatrixOf<S>& x, MatrixOf<S>& p, MatrixOf<S>& rows, Workers* workers) {
  p.resize(x.rows(), x.cols());
  rows.resize(x.rows(), 1);
  auto top = rows.col(0);
  // With workers: the row passes split by rows, the column passes by columns (workers.hpp).
  const double work = static_cast<double>(x.size());
  auto by_rows = [&](auto&& body) { parallel_ranges(workers, x.rows(), kRowGranule, work, body); };
  auto by_cols = [&](auto&& body) { parallel_ranges(workers, x.cols(), 1, work, body); };
  by_rows([&](Eigen::Index r, Eigen::Index count) {
    auto t = top.segment(r, count);
    t = x.middleRows(r, count).rowwise().maxCoeff();
    t = (t.array() == -kInf<S>).select(S(0), t.array()).matrix();  // fully masked row: exp(−inf − 0) = 0
  });
  by_cols([&](Eigen::Index first, Eigen::Index count) {
    for (Eigen::Index c = first; c < first + count; ++c) {
      auto col = p.col(c);
      col.array() = (x.col(c) - top).array().exp();
      // Eigen's vectorised exp clamps its argument near −709, so a masked entry (−inf) would come out as
      // 5.6e−309 instead of 0: entries below e^−708 are set to exactly 0, in a scalar pass over only the
      // columns that have one (masked or extremely saturated entries).
      if ((x.col(c) - top).minCoeff() < kExpFloor<S>)
        for (Eigen::Index r = 0; r < x.rows(); ++r)
          if (x(r, c) - top(r) < kExpFloor<S>) col(r) = S(0);
    }
  });
  by_rows([&](Eigen::Index r, Eigen::Index count) {
    auto t = top.segment(r, count);
    t = p.middleRows(r, count).rowwise().sum();
    t = (t.array() > S(0)).select(t.array().inverse(), S(0)).matrix();  // 1/Σ, or 0 for a masked row
  });
  by_cols([&](Eigen::Index first, Eigen::Index count) {
    for (Eigen::Index c = first; c < first + count; ++c) p.col(c).array() *= top.array();
  });
}
// dx = p ⊙ (g − ⟨g, p⟩): the Jacobian diag(p) − ppᵀ applied to g, row by row (computed column-wise).
template <class S>
static void softmax_rows_backward(TapeOf<S>& t, NodeOf<S>& n) {
  MatrixOf<S>* ga = adjoint(t, n, 0);
  if (!ga) return;
  const MatrixOf<S>& p = n.value;
  auto gp = std::get<SoftmaxState<S>>(n.state).row_scratch.col(0);  // ⟨g, p⟩ per row; sized rows×1 by the forward
  const double work = static_cast<double>(p.size());
  parallel_ranges(t.workers(), p.rows(), kRowGranule, work, [&](Eigen::Index r, Eigen::Index count) {
    gp.segment(r, count) = n.grad.middleRows(r, count).cwiseProduct(p.middleRows(r, count)).rowwise().sum();
  });
  parallel_ranges(t.workers(), p.cols(), 1, work, [&](Eigen::Index first, Eigen::Index count) {
    for (Eigen::Index c = first; c < first + count; ++c)
      ga->col(c).array() += p.col(c).array() * (n.grad.col(c) - gp).array();
  });
}
template <class S>
VarOf<S> softmax_rows(VarOf<S> logits) {
  NodeOf<S>& n = logits.tape()->push(OpKind::SoftmaxRows, softmax_rows_backward<S>, {logits});
  softmax_rows_forward(logits.value(), n.value, reuse_state<SoftmaxState<S>>(n).row_scratch, logits.tape()->workers());
  return logits.tape()->last();
}

// ------------------------------------------------------------------------------------ log_softmax_rows
// y = x − max − log Σ exp(x − max). Masked entries (−inf) stay −inf and get no gradient; a fully masked
// row gives zeros (there is no distribution to take the log of).
template <class S>
static void log_softmax_rows_backward(TapeOf<S>& t, NodeOf<S>& n) {
  MatrixOf<S>* ga = adjoint(t, n, 0);
  if (!ga) return;
  const MatrixOf<S>& x = input(t, n, 0).value;
  const MatrixOf<S>& row_live = std::get<LogSoftmaxState<S>>(n.state).row_live;
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    if (row_live(r, 0) == S(0)) continue;  // fully masked row
    const S total = n.grad.row(r).sum();
    for (Eigen::Index c = 0; c < x.cols(); ++c) {
      if (x(r, c) == -kInf<S>) continue;
      (*ga)(r, c) += n.grad(r, c) - std::exp(n.value(r, c)) * total;  // dx = g − softmax·Σg
    }
  }
}
template <class S>
VarOf<S> log_softmax_rows(VarOf<S> logits) {
  NodeOf<S>& n = logits.tape()->push(OpKind::LogSoftmaxRows, log_softmax_rows_backward<S>, {logits});
  const MatrixOf<S>& x = logits.value();
  n.value.resize(x.rows(), x.cols());
  MatrixOf<S>& row_live = reuse_state<LogSoftmaxState<S>>(n).row_live;
  row_live.resize(x.rows(), 1);  // 1 where the row has at least one live entry
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const S top = x.row(r).maxCoeff();
    row_live(r, 0) = top == -kInf<S> ? S(0) : S(1);
    if (top == -kInf<S>) {
      n.value.row(r).setZero();
      continue;
    }
    const S log_total = std::log((x.row(r).array() - top).exp().sum());
    n.value.row(r) = (x.row(r).array() - top - log_total).matrix();
  }
  return logits.tape()->last();
}

// ---------------------------------------------------------------------------------------- cross_entropy
// L = −(1/m) Σ_rows log p[row, target], m = number of rows with a target ≥ 0. dlogits = (p − onehot)/m.
template <class S>
static void cross_entropy_backward(TapeOf<S>& t, NodeOf<S>& n) {
  MatrixOf<S>* ga = adjoint(t, n, 0);
  const CrossEntropyState<S>& s = std::get<CrossEntropyState<S>>(n.state);
  if (!ga || s.counted == S(0)) return;
  const std::vector<int>& targets = *s.targets;
  const S g = n.grad(0, 0) / s.counted;
  for (Eigen::Index r = 0; r < s.probabilities.rows(); ++r) {
    const int target = targets[static_cast<size_t>(r)];
    if (target < 0) continue;
    ga->row(r) += g * s.probabilities.row(r);
    (*ga)(r, target) -= g;
  }
}
template <class S>
VarOf<S> cross_entropy(VarOf<S> logits, const std::vector<int>& targets) {
  const MatrixOf<S>& x = logits.value();
  if (static_cast<Eigen::Index>(targets.size()) != x.rows())
    throw std::invalid_argument("ad::cross_entropy: " + std::to_string(targets.size()) + " targets for " +
                                std::to_string(x.rows()) + " rows");
  for (const int target : targets)  // before the node is recorded, so that a throw leaves the tape as it was
    if (target >= x.cols()) throw std::invalid_argument("ad::cross_entropy: target out of range");
  NodeOf<S>& n = logits.tape()->push(OpKind::CrossEntropy, cross_entropy_backward<S>, {logits});
  CrossEntropyState<S>& s = reuse_state<CrossEntropyState<S>>(n);
  s.targets = &targets;
  softmax_rows_forward(x, s.probabilities, s.row_scratch, logits.tape()->workers());
  S total = 0;
  S counted = 0;
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const int target = targets[static_cast<size_t>(r)];
    if (target < 0) continue;
    const S top = x.row(r).maxCoeff();
    total -= x(r, target) - top - std::log((x.row(r).array() - top).exp().sum());
    counted += 1;
  }
  s.counted = counted;
  n.value.resize(1, 1);
  n.value(0, 0) = counted > 0 ? total / counted : S(0);
  return logits.tape()->last();
}

// ---------------------------------------------------------------------------------- mean_squared_error
template <class S>
static void mean_squared_error_backward(TapeOf<S>& t, NodeOf<S>& n) {
  const MatrixOf<S>& difference = std::get<MseState<S>>(n.state).difference;  // prediction − target
  const S g = S(2) * n.grad(0, 0) / static_cast<S>(difference.size());
  if (MatrixOf<S>* ga = adjoint(t, n, 0)) *ga += g * difference;
  if (MatrixOf<S>* gb = adjoint(t, n, 1)) *gb -= g * difference;
}
template <class S>
VarOf<S> mean_squared_error(VarOf<S> prediction, VarOf<S> target) {
  if (prediction.rows() != target.rows() || prediction.cols() != target.cols())
    shape_error("mean_squared_error", prediction.value(), target.value());
  NodeOf<S>& n = prediction.tape()->push(OpKind::MeanSquaredError, mean_squared_error_backward<S>, {prediction, target});
  MatrixOf<S>& difference = reuse_state<MseState<S>>(n).difference;
  difference = prediction.value() - target.value();
  n.value.resize(1, 1);
  n.value(0, 0) = difference.squaredNorm() / static_cast<S>(difference.size());
  return prediction.tape()->last();
}

// ------------------------------------------------------------------------------------- layer_norm_rows
// x̂ = (x − μ)/σ with σ = √(var + eps) per row; y = x̂ (⊙ gain + bias). The state keeps x̂ and 1/σ per row.
// dx = (1/σ)(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂)) with ĝ = g ⊙ gain.
template <class S>
static void layer_norm_rows_backward(TapeOf<S>& t, NodeOf<S>& n) {
  const bool affine = n.inputs[1] >= 0;
  const LayerNormState<S>& s = std::get<LayerNormState<S>>(n.state);
  const MatrixOf<S>& xhat = s.normalized;
  const S cols = static_cast<S>(xhat.cols());
  if (affine) {
    if (MatrixOf<S>* ggain = adjoint(t, n, 1)) ggain->noalias() += n.grad.cwiseProduct(xhat).colwise().sum();
    if (MatrixOf<S>* gbias = adjoint(t, n, 2)) gbias->noalias() += n.grad.colwise().sum();
  }
  MatrixOf<S>* gx = adjoint(t, n, 0);
  if (!gx) return;
  for (Eigen::Index r = 0; r < xhat.rows(); ++r) {
    S mean_g = 0;
    S mean_gx = 0;
    for (Eigen::Index c = 0; c < xhat.cols(); ++c) {
      const S gh = n.grad(r, c) * (affine ? input(t, n, 1).value(0, c) : S(1));
      mean_g += gh;
      mean_gx += gh * xhat(r, c);
    }
    mean_g /= cols;
    mean_gx /= cols;
    for (Eigen::Index c = 0; c < xhat.cols(); ++c) {
      const S gh = n.grad(r, c) * (affine ? input(t, n, 1).value(0, c) : S(1));
      (*gx)(r, c) += s.inv_sigma(r, 0) * (gh - mean_g - xhat(r, c) * mean_gx);
    }
  }
}
template <class S>
static const MatrixOf<S>& layer_norm_forward(NodeOf<S>& n, const MatrixOf<S>& x, S eps) {
  LayerNormState<S>& s = reuse_state<LayerNormState<S>>(n);
  s.eps = eps;
  s.normalized.resize(x.rows(), x.cols());
  s.inv_sigma.resize(x.rows(), 1);
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const S mu = x.row(r).mean();
    const S var = (x.row(r).array() - mu).square().mean();
    s.inv_sigma(r, 0) = S(1) / std::sqrt(var + eps);
    s.normalized.row(r) = ((x.row(r).array() - mu) * s.inv_sigma(r, 0)).matrix();
  }
  return s.normalized;
}
template <class S>
VarOf<S> layer_norm_rows(VarOf<S> x, double eps) {
  NodeOf<S>& n = x.tape()->push(OpKind::LayerNormRows, layer_norm_rows_backward<S>, {x});
  n.value = layer_norm_forward(n, x.value(), static_cast<S>(eps));
  return x.tape()->last();
}
template <class S>
VarOf<S> layer_norm_rows(VarOf<S> x, VarOf<S> gain, VarOf<S> bias, double eps) {
  if (gain.rows() != 1 || gain.cols() != x.cols()) shape_error("layer_norm_rows (gain)", x.value(), gain.value());
  if (bias.rows() != 1 || bias.cols() != x.cols()) shape_error("layer_norm_rows (bias)", x.value(), bias.value());
  NodeOf<S>& n = x.tape()->push(OpKind::LayerNormRows, layer_norm_rows_backward<S>, {x, gain, bias});
  const MatrixOf<S>& xhat = layer_norm_forward(n, x.value(), static_cast<S>(eps));
  n.value = (xhat.array().rowwise() * gain.value().row(0).array()).rowwise() + bias.value().row(0).array();
  return x.tape()->last();
}

// ----------------------------------------------------------------------------------- l2_normalize_rows
// y = x/‖x‖ with ‖x‖ = √(Σx² + eps); dx = (g − y⟨y, g⟩)/‖x‖. The state keeps 1/‖x‖ per row.
template <class S>
static void l2_normalize_rows_backward(TapeOf<S>& t, NodeOf<S>& n) {
  MatrixOf<S>* gx = adjoint(t, n, 0);
  if (!gx) return;
  const MatrixOf<S>& inv_norm = std::get<L2NormalizeState<S>>(n.state).inv_norm;
  for (Eigen::Index r = 0; r < n.value.rows(); ++r) {
    const S yg = n.value.row(r).dot(n.grad.row(r));
    gx->row(r) += inv_norm(r, 0) * (n.grad.row(r) - yg * n.value.row(r));
  }
}
template <class S>
VarOf<S> l2_normalize_rows(VarOf<S> x, double eps) {
  NodeOf<S>& n = x.tape()->push(OpKind::L2NormalizeRows, l2_normalize_rows_backward<S>, {x});
  const MatrixOf<S>& v = x.value();
  MatrixOf<S>& inv_norm = reuse_state<L2NormalizeState<S>>(n).inv_norm;
  inv_norm.resize(v.rows(), 1);
  n.value.resize(v.rows(), v.cols());
  for (Eigen::Index r = 0; r < v.rows(); ++r) {
    inv_norm(r, 0) = S(1) / std::sqrt(v.row(r).squaredNorm() + static_cast<S>(eps));
    n.value.row(r) = v.row(r) * inv_norm(r, 0);
  }
  return x.tape()->last();
}

// ------------------------------------------------------------------------------------------------ mask
template <class S>
static void mask_backward(TapeOf<S>& t, NodeOf<S>& n) {
  if (MatrixOf<S>* ga = adjoint(t, n, 0)) {
    const BoolMatrix& hidden = *std::get<MaskState>(n.state).hidden;
    ga->array() += hidden.select(S(0), n.grad.array());
  }
}
template <class S>
VarOf<S> mask(VarOf<S> logits, const BoolMatrix& hidden) {
  if (hidden.rows() != logits.rows() || hidden.cols() != logits.cols())
    throw std::invalid_argument("ad::mask: the mask's shape differs from the logits'");
  NodeOf<S>& n = logits.tape()->push(OpKind::Mask, mask_backward<S>, {logits});
  reuse_state<MaskState>(n).hidden = &hidden;
  n.value.resize(logits.rows(), logits.cols());
  n.value.array() = hidden.select(-kInf<S>, logits.value().array());
  return logits.tape()->last();
}

// ----------------------------------------------------------------------------------- slice / concat
template <class S>
static void slice_cols_backward(TapeOf<S>& t, NodeOf<S>& n) {
  if (MatrixOf<S>* ga = adjoint(t, n, 0)) ga->middleCols(std::get<SliceState>(n.state).first, n.value.cols()) += n.grad;
}
template <class S>
VarOf<S> slice_cols(VarOf<S> a, Eigen::Index first, Eigen::Index count) {
  if (first < 0 || count <= 0 || first + count > a.cols())
    throw std::invalid_argument("ad::slice_cols: columns out of range");
  NodeOf<S>& n = a.tape()->push(OpKind::SliceCols, slice_cols_backward<S>, {a});
  reuse_state<SliceState>(n).first = first;
  n.value = a.value().middleCols(first, count);
  return a.tape()->last();
}

template <class S>
static void concat_cols_backward(TapeOf<S>& t, NodeOf<S>& n) {
  const Eigen::Index left = input(t, n, 0).value.cols();
  if (MatrixOf<S>* ga = adjoint(t, n, 0)) *ga += n.grad.leftCols(left);
  if (MatrixOf<S>* gb = adjoint(t, n, 1)) *gb += n.grad.rightCols(n.grad.cols() - left);
}
template <class S>
VarOf<S> concat_cols(VarOf<S> a, VarOf<S> b) {
  if (a.rows() != b.rows()) shape_error("concat_cols", a.value(), b.value());
  NodeOf<S>& n = a.tape()->push(OpKind::ConcatCols, concat_cols_backward<S>, {a, b});
  n.value.resize(a.rows(), a.cols() + b.cols());
  n.value.leftCols(a.cols()) = a.value();
  n.value.rightCols(b.cols()) = b.value();
  return a.tape()->last();
}

// Both precisions of every op; the header declares them, so no other file compiles an op's body.
#define AD_INSTANTIATE_OPS(S)                                                                          \
  template VarOf<S> matmul(VarOf<S>, VarOf<S>);                                                        \
  template VarOf<S> transpose(VarOf<S>);                                                               \
  template VarOf<S> add(VarOf<S>, VarOf<S>);                                                           \
  template VarOf<S> sub(VarOf<S>, VarOf<S>);                                                           \
  template VarOf<S> mul(VarOf<S>, VarOf<S>);                                                           \
  template VarOf<S> scale(VarOf<S>, double);                                                           \
  template VarOf<S> scale_by(VarOf<S>, VarOf<S>);                                                      \
  template VarOf<S> sum(VarOf<S>);                                                                     \
  template VarOf<S> mean(VarOf<S>);                                                                    \
  template VarOf<S> exp(VarOf<S>);                                                                     \
  template VarOf<S> log(VarOf<S>);                                                                     \
  template VarOf<S> tanh(VarOf<S>);                                                                    \
  template VarOf<S> relu(VarOf<S>);                                                                    \
  template VarOf<S> gelu(VarOf<S>);                                                                    \
  template VarOf<S> softmax_rows(VarOf<S>);                                                            \
  template VarOf<S> log_softmax_rows(VarOf<S>);                                                        \
  template VarOf<S> layer_norm_rows(VarOf<S>, double);                                                 \
  template VarOf<S> layer_norm_rows(VarOf<S>, VarOf<S>, VarOf<S>, double);                             \
  template VarOf<S> l2_normalize_rows(VarOf<S>, double);                                               \
  template VarOf<S> cross_entropy(VarOf<S>, const std::vector<int>&);                                  \
  template VarOf<S> mean_squared_error(VarOf<S>, VarOf<S>);                                            \
  template VarOf<S> mask(VarOf<S>, const BoolMatrix&);                                                 \
  template VarOf<S> slice_cols(VarOf<S>, Eigen::Index, Eigen::Index);                                  \
  template VarOf<S> concat_cols(VarOf<S>, VarOf<S>);
AD_INSTANTIATE_OPS(double)
AD_INSTANTIATE_OPS(float)
#undef AD_INSTANTIATE_OPS

}  // namespace ad
