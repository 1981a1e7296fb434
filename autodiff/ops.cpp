// Forward and backward of every op, side by side. Conventions:
//  - `g` is the node's adjoint dL/dY; each backward ADDS its contribution to its inputs' adjoints, so a
//    node used several times (X feeding Q, K and V) receives the sum.
//  - An input whose needs_grad is false gets nothing (data never needs an adjoint).
//  - Products write with noalias() into storage that already has the right size, so a warmed-up step
//    allocates nothing.
#include "autodiff/ops.hpp"

#include "autodiff/workers.hpp"

#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <string>

namespace ad {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

Node& input(Tape& tape, const Node& node, int k) { return tape.node(node.inputs[k]); }

// The input's adjoint if it wants one, else nullptr.
Matrix* adjoint(Tape& tape, const Node& node, int k) {
  Node& in = tape.node(node.inputs[k]);
  return in.needs_grad ? &in.grad : nullptr;
}

[[noreturn]] void shape_error(const char* op, const Matrix& a, const Matrix& b) {
  throw std::invalid_argument(std::string("ad::") + op + ": shapes " + std::to_string(a.rows()) + "x" +
                              std::to_string(a.cols()) + " and " + std::to_string(b.rows()) + "x" +
                              std::to_string(b.cols()) + " do not fit");
}

bool is_row_broadcast(const Matrix& a, const Matrix& b) { return b.rows() == 1 && b.cols() == a.cols() && a.rows() != 1; }

}  // namespace

// ---------------------------------------------------------------------------------------------- matmul
// With workers, each product is split by rows of its result (workers.hpp says why the bits stay the same);
// dB's rows are A's columns.
static void matmul_backward(Tape& t, Node& n) {
  const Matrix& a = input(t, n, 0).value;
  const Matrix& b = input(t, n, 1).value;
  const double work = static_cast<double>(a.rows()) * a.cols() * b.cols();
  if (Matrix* ga = adjoint(t, n, 0))  // dA = G Bᵀ
    parallel_ranges(t.workers(), ga->rows(), kRowGranule, work, [&](Eigen::Index r, Eigen::Index count) {
      ga->middleRows(r, count).noalias() += n.grad.middleRows(r, count) * b.transpose();
    });
  if (Matrix* gb = adjoint(t, n, 1))  // dB = Aᵀ G
    parallel_ranges(t.workers(), gb->rows(), kRowGranule, work, [&](Eigen::Index r, Eigen::Index count) {
      gb->middleRows(r, count).noalias() += a.middleCols(r, count).transpose() * n.grad;
    });
}
Var matmul(Var a, Var b) {
  if (a.cols() != b.rows()) shape_error("matmul", a.value(), b.value());
  Node& n = a.tape()->push(OpKind::Matmul, matmul_backward, {a, b});
  n.value.resize(a.rows(), b.cols());
  const Matrix& av = a.value();
  const Matrix& bv = b.value();
  const double work = static_cast<double>(av.rows()) * av.cols() * bv.cols();
  parallel_ranges(a.tape()->workers(), av.rows(), kRowGranule, work, [&](Eigen::Index r, Eigen::Index count) {
    n.value.middleRows(r, count).noalias() = av.middleRows(r, count) * bv;
  });
  return a.tape()->last();
}

// ------------------------------------------------------------------------------------------- transpose
static void transpose_backward(Tape& t, Node& n) {
  if (Matrix* ga = adjoint(t, n, 0)) *ga += n.grad.transpose();
}
Var transpose(Var a) {
  Node& n = a.tape()->push(OpKind::Transpose, transpose_backward, {a});
  n.value = a.value().transpose();
  return a.tape()->last();
}

// ----------------------------------------------------------------------------------------- add / sub
// b is either a's shape or a 1×cols row added to every row; its adjoint is then the column sums of g.
static void add_sub_backward(Tape& t, Node& n) {
  const double sign = std::get<AddSubState>(n.state).sign;  // +1 for add, −1 for sub
  if (Matrix* ga = adjoint(t, n, 0)) *ga += n.grad;
  if (Matrix* gb = adjoint(t, n, 1)) {
    if (gb->rows() == n.grad.rows()) *gb += sign * n.grad;
    else gb->noalias() += sign * n.grad.colwise().sum();
  }
}
static Var add_or_sub(Var a, Var b, double sign, OpKind op, const char* name) {
  const bool broadcast = is_row_broadcast(a.value(), b.value());
  if (!broadcast && (a.rows() != b.rows() || a.cols() != b.cols())) shape_error(name, a.value(), b.value());
  Node& n = a.tape()->push(op, add_sub_backward, {a, b});
  n.reuse_state<AddSubState>().sign = sign;
  if (broadcast) {  // column by column: `a.rowwise() + s·b.row(0)` allocated on every call
    n.value.resize(a.rows(), a.cols());
    for (Eigen::Index c = 0; c < a.cols(); ++c) n.value.col(c).array() = a.value().col(c).array() + sign * b.value()(0, c);
  } else {
    n.value = a.value() + sign * b.value();
  }
  return a.tape()->last();
}
Var add(Var a, Var b) { return add_or_sub(a, b, +1.0, OpKind::Add, "add"); }
Var sub(Var a, Var b) { return add_or_sub(a, b, -1.0, OpKind::Sub, "sub"); }

// --------------------------------------------------------------------------------------------- mul
static void mul_backward(Tape& t, Node& n) {
  if (Matrix* ga = adjoint(t, n, 0)) ga->array() += n.grad.array() * input(t, n, 1).value.array();
  if (Matrix* gb = adjoint(t, n, 1)) gb->array() += n.grad.array() * input(t, n, 0).value.array();
}
Var mul(Var a, Var b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) shape_error("mul", a.value(), b.value());
  Node& n = a.tape()->push(OpKind::Mul, mul_backward, {a, b});
  n.value = a.value().cwiseProduct(b.value());
  return a.tape()->last();
}

// ------------------------------------------------------------------------------------- scale, scale_by
static void scale_backward(Tape& t, Node& n) {
  if (Matrix* ga = adjoint(t, n, 0)) *ga += std::get<FactorState>(n.state).factor * n.grad;
}
Var scale(Var a, double s) {
  Node& n = a.tape()->push(OpKind::Scale, scale_backward, {a});
  n.reuse_state<FactorState>().factor = s;
  n.value = s * a.value();
  return a.tape()->last();
}

static void scale_by_backward(Tape& t, Node& n) {
  const Matrix& a = input(t, n, 0).value;
  const double s = input(t, n, 1).value(0, 0);
  if (Matrix* ga = adjoint(t, n, 0)) *ga += s * n.grad;
  if (Matrix* gs = adjoint(t, n, 1)) (*gs)(0, 0) += n.grad.cwiseProduct(a).sum();  // dL/ds = Σ G⊙A
}
Var scale_by(Var a, Var s) {
  if (s.rows() != 1 || s.cols() != 1) shape_error("scale_by (s must be 1x1)", a.value(), s.value());
  Node& n = a.tape()->push(OpKind::ScaleBy, scale_by_backward, {a, s});
  n.value = s.value()(0, 0) * a.value();
  return a.tape()->last();
}

// -------------------------------------------------------------------------------------- sum, mean
static void sum_mean_backward(Tape& t, Node& n) {
  if (Matrix* ga = adjoint(t, n, 0)) ga->array() += n.grad(0, 0) * std::get<FactorState>(n.state).factor;  // 1 or 1/size
}
Var sum(Var a) {
  Node& n = a.tape()->push(OpKind::Sum, sum_mean_backward, {a});
  n.reuse_state<FactorState>().factor = 1.0;
  n.value.resize(1, 1);
  n.value(0, 0) = a.value().sum();
  return a.tape()->last();
}
Var mean(Var a) {
  Node& n = a.tape()->push(OpKind::Mean, sum_mean_backward, {a});
  n.reuse_state<FactorState>().factor = 1.0 / static_cast<double>(a.value().size());
  n.value.resize(1, 1);
  n.value(0, 0) = a.value().mean();
  return a.tape()->last();
}

// ------------------------------------------------------------------------------ elementwise functions
static void exp_backward(Tape& t, Node& n) {
  if (Matrix* ga = adjoint(t, n, 0)) ga->array() += n.grad.array() * n.value.array();  // (eˣ)' = eˣ
}
Var exp(Var a) {
  Node& n = a.tape()->push(OpKind::Exp, exp_backward, {a});
  n.value = a.value().array().exp().matrix();
  return a.tape()->last();
}

static void log_backward(Tape& t, Node& n) {
  if (Matrix* ga = adjoint(t, n, 0)) ga->array() += n.grad.array() / input(t, n, 0).value.array();
}
Var log(Var a) {
  Node& n = a.tape()->push(OpKind::Log, log_backward, {a});
  n.value = a.value().array().log().matrix();
  return a.tape()->last();
}

static void tanh_backward(Tape& t, Node& n) {
  if (Matrix* ga = adjoint(t, n, 0)) ga->array() += n.grad.array() * (1.0 - n.value.array().square());
}
Var tanh(Var a) {
  Node& n = a.tape()->push(OpKind::Tanh, tanh_backward, {a});
  n.value = a.value().array().tanh().matrix();
  return a.tape()->last();
}

static void relu_backward(Tape& t, Node& n) {
  if (Matrix* ga = adjoint(t, n, 0))
    ga->array() += (input(t, n, 0).value.array() > 0.0).select(n.grad.array(), 0.0);
}
Var relu(Var a) {
  Node& n = a.tape()->push(OpKind::Relu, relu_backward, {a});
  n.value = a.value().cwiseMax(0.0);
  return a.tape()->last();
}

// gelu(x) = x·Φ(x), Φ the standard normal CDF; gelu'(x) = Φ(x) + x·φ(x).
static double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); }
static double normal_pdf(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2.0 * std::numbers::pi); }
static void gelu_backward(Tape& t, Node& n) {
  if (Matrix* ga = adjoint(t, n, 0)) {
    const Matrix& x = input(t, n, 0).value;
    ga->array() += n.grad.array() * x.array().unaryExpr([](double v) { return normal_cdf(v) + v * normal_pdf(v); });
  }
}
Var gelu(Var a) {
  Node& n = a.tape()->push(OpKind::Gelu, gelu_backward, {a});
  n.value = a.value().unaryExpr([](double v) { return v * normal_cdf(v); });
  return a.tape()->last();
}

// ---------------------------------------------------------------------------------------- softmax_rows
// p = exp(x − max) / Σ exp(x − max), row by row. A row whose max is −inf (fully masked) is all zeros.
// Matrices are column-major, so the work goes column by column (contiguous, vectorised exp) with the
// per-row max and sum kept in `rows` (a rows×1 scratch owned by the node): walking a row of a
// column-major matrix is strided, does not vectorise, and with B·n a multiple of 512 every element of a
// row falls in the same L1 set.
static void softmax_rows_forward(const Matrix& x, Matrix& p, Matrix& rows, Workers* workers) {
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
    t = (t.array() == -kInf).select(0.0, t.array()).matrix();  // fully masked row: exp(−inf − 0) = 0
  });
  by_cols([&](Eigen::Index first, Eigen::Index count) {
    for (Eigen::Index c = first; c < first + count; ++c) {
      auto col = p.col(c);
      col.array() = (x.col(c) - top).array().exp();
      // Eigen's vectorised exp clamps its argument near −709, so a masked entry (−inf) would come out as
      // 5.6e−309 instead of 0: entries below e^−708 are set to exactly 0, in a scalar pass over only the
      // columns that have one (masked or extremely saturated entries).
      if ((x.col(c) - top).minCoeff() < -708.0)
        for (Eigen::Index r = 0; r < x.rows(); ++r)
          if (x(r, c) - top(r) < -708.0) col(r) = 0.0;
    }
  });
  by_rows([&](Eigen::Index r, Eigen::Index count) {
    auto t = top.segment(r, count);
    t = p.middleRows(r, count).rowwise().sum();
    t = (t.array() > 0.0).select(t.array().inverse(), 0.0).matrix();  // 1/Σ, or 0 for a masked row
  });
  by_cols([&](Eigen::Index first, Eigen::Index count) {
    for (Eigen::Index c = first; c < first + count; ++c) p.col(c).array() *= top.array();
  });
}
// dx = p ⊙ (g − ⟨g, p⟩): the Jacobian diag(p) − ppᵀ applied to g, row by row (computed column-wise).
static void softmax_rows_backward(Tape& t, Node& n) {
  Matrix* ga = adjoint(t, n, 0);
  if (!ga) return;
  const Matrix& p = n.value;
  auto gp = std::get<SoftmaxState>(n.state).row_scratch.col(0);  // ⟨g, p⟩ per row; sized rows×1 by the forward
  const double work = static_cast<double>(p.size());
  parallel_ranges(t.workers(), p.rows(), kRowGranule, work, [&](Eigen::Index r, Eigen::Index count) {
    gp.segment(r, count) = n.grad.middleRows(r, count).cwiseProduct(p.middleRows(r, count)).rowwise().sum();
  });
  parallel_ranges(t.workers(), p.cols(), 1, work, [&](Eigen::Index first, Eigen::Index count) {
    for (Eigen::Index c = first; c < first + count; ++c)
      ga->col(c).array() += p.col(c).array() * (n.grad.col(c) - gp).array();
  });
}
Var softmax_rows(Var logits) {
  Node& n = logits.tape()->push(OpKind::SoftmaxRows, softmax_rows_backward, {logits});
  softmax_rows_forward(logits.value(), n.value, n.reuse_state<SoftmaxState>().row_scratch, logits.tape()->workers());
  return logits.tape()->last();
}

// ------------------------------------------------------------------------------------ log_softmax_rows
// y = x − max − log Σ exp(x − max). Masked entries (−inf) stay −inf and get no gradient; a fully masked
// row gives zeros (there is no distribution to take the log of).
static void log_softmax_rows_backward(Tape& t, Node& n) {
  Matrix* ga = adjoint(t, n, 0);
  if (!ga) return;
  const Matrix& x = input(t, n, 0).value;
  const Matrix& row_live = std::get<LogSoftmaxState>(n.state).row_live;
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    if (row_live(r, 0) == 0.0) continue;  // fully masked row
    const double total = n.grad.row(r).sum();
    for (Eigen::Index c = 0; c < x.cols(); ++c) {
      if (x(r, c) == -kInf) continue;
      (*ga)(r, c) += n.grad(r, c) - std::exp(n.value(r, c)) * total;  // dx = g − softmax·Σg
    }
  }
}
Var log_softmax_rows(Var logits) {
  Node& n = logits.tape()->push(OpKind::LogSoftmaxRows, log_softmax_rows_backward, {logits});
  const Matrix& x = logits.value();
  n.value.resize(x.rows(), x.cols());
  Matrix& row_live = n.reuse_state<LogSoftmaxState>().row_live;
  row_live.resize(x.rows(), 1);  // 1 where the row has at least one live entry
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const double top = x.row(r).maxCoeff();
    row_live(r, 0) = top == -kInf ? 0.0 : 1.0;
    if (top == -kInf) {
      n.value.row(r).setZero();
      continue;
    }
    const double log_total = std::log((x.row(r).array() - top).exp().sum());
    n.value.row(r) = (x.row(r).array() - top - log_total).matrix();
  }
  return logits.tape()->last();
}

// ---------------------------------------------------------------------------------------- cross_entropy
// L = −(1/m) Σ_rows log p[row, target], m = number of rows with a target ≥ 0. dlogits = (p − onehot)/m.
static void cross_entropy_backward(Tape& t, Node& n) {
  Matrix* ga = adjoint(t, n, 0);
  const CrossEntropyState& s = std::get<CrossEntropyState>(n.state);
  if (!ga || s.counted == 0.0) return;
  const std::vector<int>& targets = *s.targets;
  const double g = n.grad(0, 0) / s.counted;
  for (Eigen::Index r = 0; r < s.probabilities.rows(); ++r) {
    const int target = targets[static_cast<size_t>(r)];
    if (target < 0) continue;
    ga->row(r) += g * s.probabilities.row(r);
    (*ga)(r, target) -= g;
  }
}
Var cross_entropy(Var logits, const std::vector<int>& targets) {
  const Matrix& x = logits.value();
  if (static_cast<Eigen::Index>(targets.size()) != x.rows())
    throw std::invalid_argument("ad::cross_entropy: " + std::to_string(targets.size()) + " targets for " +
                                std::to_string(x.rows()) + " rows");
  for (const int target : targets)  // before the node is recorded, so that a throw leaves the tape as it was
    if (target >= x.cols()) throw std::invalid_argument("ad::cross_entropy: target out of range");
  Node& n = logits.tape()->push(OpKind::CrossEntropy, cross_entropy_backward, {logits});
  CrossEntropyState& s = n.reuse_state<CrossEntropyState>();
  s.targets = &targets;
  softmax_rows_forward(x, s.probabilities, s.row_scratch, logits.tape()->workers());
  double total = 0.0;
  double counted = 0.0;
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const int target = targets[static_cast<size_t>(r)];
    if (target < 0) continue;
    const double top = x.row(r).maxCoeff();
    total -= x(r, target) - top - std::log((x.row(r).array() - top).exp().sum());
    counted += 1.0;
  }
  s.counted = counted;
  n.value.resize(1, 1);
  n.value(0, 0) = counted > 0 ? total / counted : 0.0;
  return logits.tape()->last();
}

// ---------------------------------------------------------------------------------- mean_squared_error
static void mean_squared_error_backward(Tape& t, Node& n) {
  const Matrix& difference = std::get<MseState>(n.state).difference;  // prediction − target
  const double g = 2.0 * n.grad(0, 0) / static_cast<double>(difference.size());
  if (Matrix* ga = adjoint(t, n, 0)) *ga += g * difference;
  if (Matrix* gb = adjoint(t, n, 1)) *gb -= g * difference;
}
Var mean_squared_error(Var prediction, Var target) {
  if (prediction.rows() != target.rows() || prediction.cols() != target.cols())
    shape_error("mean_squared_error", prediction.value(), target.value());
  Node& n = prediction.tape()->push(OpKind::MeanSquaredError, mean_squared_error_backward, {prediction, target});
  Matrix& difference = n.reuse_state<MseState>().difference;
  difference = prediction.value() - target.value();
  n.value.resize(1, 1);
  n.value(0, 0) = difference.squaredNorm() / static_cast<double>(difference.size());
  return prediction.tape()->last();
}

// ------------------------------------------------------------------------------------- layer_norm_rows
// x̂ = (x − μ)/σ with σ = √(var + eps) per row; y = x̂ (⊙ gain + bias). The state keeps x̂ and 1/σ per row.
// dx = (1/σ)(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂)) with ĝ = g ⊙ gain.
static void layer_norm_rows_backward(Tape& t, Node& n) {
  const bool affine = n.inputs[1] >= 0;
  const LayerNormState& s = std::get<LayerNormState>(n.state);
  const Matrix& xhat = s.normalized;
  const double cols = static_cast<double>(xhat.cols());
  if (affine) {
    if (Matrix* ggain = adjoint(t, n, 1)) ggain->noalias() += n.grad.cwiseProduct(xhat).colwise().sum();
    if (Matrix* gbias = adjoint(t, n, 2)) gbias->noalias() += n.grad.colwise().sum();
  }
  Matrix* gx = adjoint(t, n, 0);
  if (!gx) return;
  for (Eigen::Index r = 0; r < xhat.rows(); ++r) {
    double mean_g = 0.0;
    double mean_gx = 0.0;
    for (Eigen::Index c = 0; c < xhat.cols(); ++c) {
      const double gh = n.grad(r, c) * (affine ? input(t, n, 1).value(0, c) : 1.0);
      mean_g += gh;
      mean_gx += gh * xhat(r, c);
    }
    mean_g /= cols;
    mean_gx /= cols;
    for (Eigen::Index c = 0; c < xhat.cols(); ++c) {
      const double gh = n.grad(r, c) * (affine ? input(t, n, 1).value(0, c) : 1.0);
      (*gx)(r, c) += s.inv_sigma(r, 0) * (gh - mean_g - xhat(r, c) * mean_gx);
    }
  }
}
static const Matrix& layer_norm_forward(Node& n, const Matrix& x, double eps) {
  LayerNormState& s = n.reuse_state<LayerNormState>();
  s.eps = eps;
  s.normalized.resize(x.rows(), x.cols());
  s.inv_sigma.resize(x.rows(), 1);
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const double mu = x.row(r).mean();
    const double var = (x.row(r).array() - mu).square().mean();
    s.inv_sigma(r, 0) = 1.0 / std::sqrt(var + eps);
    s.normalized.row(r) = ((x.row(r).array() - mu) * s.inv_sigma(r, 0)).matrix();
  }
  return s.normalized;
}
Var layer_norm_rows(Var x, double eps) {
  Node& n = x.tape()->push(OpKind::LayerNormRows, layer_norm_rows_backward, {x});
  n.value = layer_norm_forward(n, x.value(), eps);
  return x.tape()->last();
}
Var layer_norm_rows(Var x, Var gain, Var bias, double eps) {
  if (gain.rows() != 1 || gain.cols() != x.cols()) shape_error("layer_norm_rows (gain)", x.value(), gain.value());
  if (bias.rows() != 1 || bias.cols() != x.cols()) shape_error("layer_norm_rows (bias)", x.value(), bias.value());
  Node& n = x.tape()->push(OpKind::LayerNormRows, layer_norm_rows_backward, {x, gain, bias});
  const Matrix& xhat = layer_norm_forward(n, x.value(), eps);
  n.value = (xhat.array().rowwise() * gain.value().row(0).array()).rowwise() + bias.value().row(0).array();
  return x.tape()->last();
}

// ----------------------------------------------------------------------------------- l2_normalize_rows
// y = x/‖x‖ with ‖x‖ = √(Σx² + eps); dx = (g − y⟨y, g⟩)/‖x‖. The state keeps 1/‖x‖ per row.
static void l2_normalize_rows_backward(Tape& t, Node& n) {
  Matrix* gx = adjoint(t, n, 0);
  if (!gx) return;
  const Matrix& inv_norm = std::get<L2NormalizeState>(n.state).inv_norm;
  for (Eigen::Index r = 0; r < n.value.rows(); ++r) {
    const double yg = n.value.row(r).dot(n.grad.row(r));
    gx->row(r) += inv_norm(r, 0) * (n.grad.row(r) - yg * n.value.row(r));
  }
}
Var l2_normalize_rows(Var x, double eps) {
  Node& n = x.tape()->push(OpKind::L2NormalizeRows, l2_normalize_rows_backward, {x});
  const Matrix& v = x.value();
  Matrix& inv_norm = n.reuse_state<L2NormalizeState>().inv_norm;
  inv_norm.resize(v.rows(), 1);
  n.value.resize(v.rows(), v.cols());
  for (Eigen::Index r = 0; r < v.rows(); ++r) {
    inv_norm(r, 0) = 1.0 / std::sqrt(v.row(r).squaredNorm() + eps);
    n.value.row(r) = v.row(r) * inv_norm(r, 0);
  }
  return x.tape()->last();
}

// ------------------------------------------------------------------------------------------------ mask
static void mask_backward(Tape& t, Node& n) {
  if (Matrix* ga = adjoint(t, n, 0)) {
    const BoolMatrix& hidden = *std::get<MaskState>(n.state).hidden;
    ga->array() += hidden.select(0.0, n.grad.array());
  }
}
Var mask(Var logits, const BoolMatrix& hidden) {
  if (hidden.rows() != logits.rows() || hidden.cols() != logits.cols())
    throw std::invalid_argument("ad::mask: the mask's shape differs from the logits'");
  Node& n = logits.tape()->push(OpKind::Mask, mask_backward, {logits});
  n.reuse_state<MaskState>().hidden = &hidden;
  n.value.resize(logits.rows(), logits.cols());
  n.value.array() = hidden.select(-kInf, logits.value().array());
  return logits.tape()->last();
}

// ----------------------------------------------------------------------------------- slice / concat
static void slice_cols_backward(Tape& t, Node& n) {
  if (Matrix* ga = adjoint(t, n, 0)) ga->middleCols(std::get<SliceState>(n.state).first, n.value.cols()) += n.grad;
}
Var slice_cols(Var a, Eigen::Index first, Eigen::Index count) {
  if (first < 0 || count <= 0 || first + count > a.cols())
    throw std::invalid_argument("ad::slice_cols: columns out of range");
  Node& n = a.tape()->push(OpKind::SliceCols, slice_cols_backward, {a});
  n.reuse_state<SliceState>().first = first;
  n.value = a.value().middleCols(first, count);
  return a.tape()->last();
}

static void concat_cols_backward(Tape& t, Node& n) {
  const Eigen::Index left = input(t, n, 0).value.cols();
  if (Matrix* ga = adjoint(t, n, 0)) *ga += n.grad.leftCols(left);
  if (Matrix* gb = adjoint(t, n, 1)) *gb += n.grad.rightCols(n.grad.cols() - left);
}
Var concat_cols(Var a, Var b) {
  if (a.rows() != b.rows()) shape_error("concat_cols", a.value(), b.value());
  Node& n = a.tape()->push(OpKind::ConcatCols, concat_cols_backward, {a, b});
  n.value.resize(a.rows(), a.cols() + b.cols());
  n.value.leftCols(a.cols()) = a.value();
  n.value.rightCols(b.cols()) = b.value();
  return a.tape()->last();
}

// ---------------------------------------------------------------------------------- batched attention
static Eigen::Index rows_per_block(Eigen::Index rows, Eigen::Index batch, const char* op) {
  if (batch <= 0 || rows % batch != 0)
    throw std::invalid_argument(std::string("ad::") + op + ": rows are not a multiple of the batch");
  return rows / batch;
}

// Each block (one sequence of one head) is its own product; with workers, the blocks are shared out.
template <class Body>
static void for_blocks(Workers* workers, Eigen::Index batch, double work, Body&& block) {
  parallel_ranges(workers, batch, 1, work, [&](Eigen::Index first, Eigen::Index count) {
    for (Eigen::Index b = first; b < first + count; ++b) block(b);
  });
}

// S_b = s·Q_b K_bᵀ; dQ_b = s·G_b K_b, dK_b = s·G_bᵀ Q_b.
static void batched_scores_backward(Tape& t, Node& n) {
  const Matrix& q = input(t, n, 0).value;
  const Matrix& k = input(t, n, 1).value;
  const auto [batch, scale] = std::get<BatchedState>(n.state);
  const Eigen::Index nq = q.rows() / batch, nk = k.rows() / batch;
  Matrix* gq = adjoint(t, n, 0);
  Matrix* gk = adjoint(t, n, 1);
  const double work = 2.0 * static_cast<double>(batch * nq) * static_cast<double>(nk * q.cols());
  for_blocks(t.workers(), batch, work, [&](Eigen::Index b) {
    const auto g = n.grad.middleRows(b * nq, nq);
    if (gq) gq->middleRows(b * nq, nq).noalias() += scale * g * k.middleRows(b * nk, nk);
    if (gk) gk->middleRows(b * nk, nk).noalias() += scale * g.transpose() * q.middleRows(b * nq, nq);
  });
}
Var batched_scores(Var queries, Var keys, Eigen::Index batch, double scale) {
  const Matrix& q = queries.value();
  const Matrix& k = keys.value();
  if (q.cols() != k.cols()) shape_error("batched_scores", q, k);
  const Eigen::Index nq = rows_per_block(q.rows(), batch, "batched_scores");
  const Eigen::Index nk = rows_per_block(k.rows(), batch, "batched_scores");
  Node& n = queries.tape()->push(OpKind::BatchedScores, batched_scores_backward, {queries, keys});
  n.reuse_state<BatchedState>() = {batch, scale};
  n.value.resize(batch * nq, nk);
  const double work = static_cast<double>(batch * nq) * static_cast<double>(nk * q.cols());
  for_blocks(queries.tape()->workers(), batch, work, [&](Eigen::Index b) {
    n.value.middleRows(b * nq, nq).noalias() = scale * q.middleRows(b * nq, nq) * k.middleRows(b * nk, nk).transpose();
  });
  return queries.tape()->last();
}

// Z_b = A_b V_b; dA_b = G_b V_bᵀ, dV_b = A_bᵀ G_b.
static void batched_weighted_sum_backward(Tape& t, Node& n) {
  const Matrix& a = input(t, n, 0).value;
  const Matrix& v = input(t, n, 1).value;
  const Eigen::Index batch = std::get<BatchedState>(n.state).batch;
  const Eigen::Index nq = a.rows() / batch, nk = v.rows() / batch;
  Matrix* ga = adjoint(t, n, 0);
  Matrix* gv = adjoint(t, n, 1);
  const double work = 2.0 * static_cast<double>(a.size()) * static_cast<double>(v.cols());
  for_blocks(t.workers(), batch, work, [&](Eigen::Index b) {
    const auto g = n.grad.middleRows(b * nq, nq);
    if (ga) ga->middleRows(b * nq, nq).noalias() += g * v.middleRows(b * nk, nk).transpose();
    if (gv) gv->middleRows(b * nk, nk).noalias() += a.middleRows(b * nq, nq).transpose() * g;
  });
}
Var batched_weighted_sum(Var weights, Var values, Eigen::Index batch) {
  const Matrix& a = weights.value();
  const Matrix& v = values.value();
  const Eigen::Index nq = rows_per_block(a.rows(), batch, "batched_weighted_sum");
  const Eigen::Index nk = rows_per_block(v.rows(), batch, "batched_weighted_sum");
  if (a.cols() != nk) shape_error("batched_weighted_sum", a, v);
  Node& n = weights.tape()->push(OpKind::BatchedWeightedSum, batched_weighted_sum_backward, {weights, values});
  n.reuse_state<BatchedState>() = {batch, 1.0};
  n.value.resize(batch * nq, v.cols());
  const double work = static_cast<double>(a.size()) * static_cast<double>(v.cols());
  for_blocks(weights.tape()->workers(), batch, work, [&](Eigen::Index b) {
    n.value.middleRows(b * nq, nq).noalias() = a.middleRows(b * nq, nq) * v.middleRows(b * nk, nk);
  });
  return weights.tape()->last();
}

// ------------------------------------------------------------------------------- split / merge heads
// Pure moves of column blocks to row blocks and back; each one's backward is the other move.
static void split_heads_backward(Tape& t, Node& n) {
  Matrix* gx = adjoint(t, n, 0);
  if (!gx) return;
  const Eigen::Index rows = gx->rows(), width = n.value.cols();
  const Eigen::Index heads = std::get<HeadsState>(n.state).heads;
  for (Eigen::Index h = 0; h < heads; ++h) gx->middleCols(h * width, width) += n.grad.middleRows(h * rows, rows);
}
Var split_heads(Var x, Eigen::Index heads) {
  if (heads <= 0 || x.cols() % heads != 0)
    throw std::invalid_argument("ad::split_heads: " + std::to_string(x.cols()) + " columns do not split into " +
                                std::to_string(heads) + " heads");
  Node& n = x.tape()->push(OpKind::SplitHeads, split_heads_backward, {x});
  n.reuse_state<HeadsState>().heads = heads;
  const Eigen::Index rows = x.rows(), width = x.cols() / heads;
  n.value.resize(heads * rows, width);
  for (Eigen::Index h = 0; h < heads; ++h) n.value.middleRows(h * rows, rows) = x.value().middleCols(h * width, width);
  return x.tape()->last();
}

static void merge_heads_backward(Tape& t, Node& n) {
  Matrix* gx = adjoint(t, n, 0);
  if (!gx) return;
  const Eigen::Index rows = n.value.rows(), width = gx->cols();
  const Eigen::Index heads = std::get<HeadsState>(n.state).heads;
  for (Eigen::Index h = 0; h < heads; ++h) gx->middleRows(h * rows, rows) += n.grad.middleCols(h * width, width);
}
Var merge_heads(Var x, Eigen::Index heads) {
  if (heads <= 0 || x.rows() % heads != 0)
    throw std::invalid_argument("ad::merge_heads: " + std::to_string(x.rows()) + " rows do not split into " +
                                std::to_string(heads) + " heads");
  Node& n = x.tape()->push(OpKind::MergeHeads, merge_heads_backward, {x});
  n.reuse_state<HeadsState>().heads = heads;
  const Eigen::Index rows = x.rows() / heads, width = x.cols();
  n.value.resize(rows, heads * width);
  for (Eigen::Index h = 0; h < heads; ++h) n.value.middleCols(h * width, width) = x.value().middleRows(h * rows, rows);
  return x.tape()->last();
}

}  // namespace ad
