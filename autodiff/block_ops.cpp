// Forward and backward of the ops over blocks of rows: the batched attention products (one block per
// sequence and head) and the moves of heads between column and row blocks. The conventions are ops.cpp's:
// backward adds into its inputs' adjoints, products write with noalias() into storage of the right size, and
// every function is a template over the tape's scalar, compiled for float and double at the end.
#include "autodiff/ops.hpp"

#include "autodiff/op_support.hpp"
#include "autodiff/workers.hpp"

#include <stdexcept>
#include <string>

namespace ad {
using detail::adjoint;
using detail::input;
using detail::reuse_state;
using detail::rows_per_block;
using detail::shape_error;
// ---------------------------------------------------------------------------------- batched attention

// Each block (one sequence of one head) is its own product; with workers, the blocks are shared out.
template <class Body>
static void for_blocks(Workers* workers, Eigen::Index batch, double work, Body&& block) {
  parallel_ranges(workers, batch, 1, work, [&](Eigen::Index first, Eigen::Index count) {
    for (Eigen::Index b = first; b < first + count; ++b) block(b);
  });
}

// S_b = s·Q_b K_bᵀ; dQ_b = s·G_b K_b, dK_b = s·G_bᵀ Q_b.
template <class S>
static void batched_scores_backward(TapeOf<S>& t, NodeOf<S>& n) {
  const MatrixOf<S>& q = input(t, n, 0).value;
  const MatrixOf<S>& k = input(t, n, 1).value;
  const auto [batch, scale] = std::get<BatchedState<S>>(n.state);
  const Eigen::Index nq = q.rows() / batch, nk = k.rows() / batch;
  MatrixOf<S>* gq = adjoint(t, n, 0);
  MatrixOf<S>* gk = adjoint(t, n, 1);
  const double work = 2.0 * static_cast<double>(batch * nq) * static_cast<double>(nk * q.cols());
  for_blocks(t.workers(), batch, work, [&](Eigen::Index b) {
    const auto g = n.grad.middleRows(b * nq, nq);
    if (gq) gq->middleRows(b * nq, nq).noalias() += scale * g * k.middleRows(b * nk, nk);
    if (gk) gk->middleRows(b * nk, nk).noalias() += scale * g.transpose() * q.middleRows(b * nq, nq);
  });
}
template <class S>
VarOf<S> batched_scores(VarOf<S> queries, VarOf<S> keys, Eigen::Index batch, double scale) {
  const MatrixOf<S>& q = queries.value();
  const MatrixOf<S>& k = keys.value();
  if (q.cols() != k.cols()) shape_error("batched_scores", q, k);
  const Eigen::Index nq = rows_per_block(q.rows(), batch, "batched_scores");
  const Eigen::Index nk = rows_per_block(k.rows(), batch, "batched_scores");
  NodeOf<S>& n = queries.tape()->push(OpKind::BatchedScores, batched_scores_backward<S>, {queries, keys});
  reuse_state<BatchedState<S>>(n) = {batch, static_cast<S>(scale)};
  n.value.resize(batch * nq, nk);
  const double work = static_cast<double>(batch * nq) * static_cast<double>(nk * q.cols());
  for_blocks(queries.tape()->workers(), batch, work, [&](Eigen::Index b) {
    n.value.middleRows(b * nq, nq).noalias() = static_cast<S>(scale) * q.middleRows(b * nq, nq) * k.middleRows(b * nk, nk).transpose();
  });
  return queries.tape()->last();
}

// Z_b = A_b V_b; dA_b = G_b V_bᵀ, dV_b = A_bᵀ G_b.
template <class S>
static void batched_weighted_sum_backward(TapeOf<S>& t, NodeOf<S>& n) {
  const MatrixOf<S>& a = input(t, n, 0).value;
  const MatrixOf<S>& v = input(t, n, 1).value;
  const Eigen::Index batch = std::get<BatchedState<S>>(n.state).batch;
  const Eigen::Index nq = a.rows() / batch, nk = v.rows() / batch;
  MatrixOf<S>* ga = adjoint(t, n, 0);
  MatrixOf<S>* gv = adjoint(t, n, 1);
  const double work = 2.0 * static_cast<double>(a.size()) * static_cast<double>(v.cols());
  for_blocks(t.workers(), batch, work, [&](Eigen::Index b) {
    const auto g = n.grad.middleRows(b * nq, nq);
    if (ga) ga->middleRows(b * nq, nq).noalias() += g * v.middleRows(b * nk, nk).transpose();
    if (gv) gv->middleRows(b * nk, nk).noalias() += a.middleRows(b * nq, nq).transpose() * g;
  });
}
template <class S>
VarOf<S> batched_weighted_sum(VarOf<S> weights, VarOf<S> values, Eigen::Index batch) {
  const MatrixOf<S>& a = weights.value();
  const MatrixOf<S>& v = values.value();
  const Eigen::Index nq = rows_per_block(a.rows(), batch, "batched_weighted_sum");
  const Eigen::Index nk = rows_per_block(v.rows(), batch, "batched_weighted_sum");
  if (a.cols() != nk) shape_error("batched_weighted_sum", a, v);
  NodeOf<S>& n = weights.tape()->push(OpKind::BatchedWeightedSum, batched_weighted_sum_backward<S>, {weights, values});
  reuse_state<BatchedState<S>>(n) = {batch, S(1)};
  n.value.resize(batch * nq, v.cols());
  const double work = static_cast<double>(a.size()) * static_cast<double>(v.cols());
  for_blocks(weights.tape()->workers(), batch, work, [&](Eigen::Index b) {
    n.value.middleRows(b * nq, nq).noalias() = a.middleRows(b * nq, nq) * v.middleRows(b * nk, nk);
  });
  return weights.tape()->last();
}

// ------------------------------------------------------------------------------- split / merge heads
// Pure moves of column blocks to row blocks and back; each one's backward is the other move.
template <class S>
static void split_heads_backward(TapeOf<S>& t, NodeOf<S>& n) {
  MatrixOf<S>* gx = adjoint(t, n, 0);
  if (!gx) return;
  const Eigen::Index rows = gx->rows(), width = n.value.cols();
  const Eigen::Index heads = std::get<HeadsState>(n.state).heads;
  for (Eigen::Index h = 0; h < heads; ++h) gx->middleCols(h * width, width) += n.grad.middleRows(h * rows, rows);
}
template <class S>
VarOf<S> split_heads(VarOf<S> x, Eigen::Index heads) {
  if (heads <= 0 || x.cols() % heads != 0)
    throw std::invalid_argument("ad::split_heads: " + std::to_string(x.cols()) + " columns do not split into " +
                                std::to_string(heads) + " heads");
  NodeOf<S>& n = x.tape()->push(OpKind::SplitHeads, split_heads_backward<S>, {x});
  reuse_state<HeadsState>(n).heads = heads;
  const Eigen::Index rows = x.rows(), width = x.cols() / heads;
  n.value.resize(heads * rows, width);
  for (Eigen::Index h = 0; h < heads; ++h) n.value.middleRows(h * rows, rows) = x.value().middleCols(h * width, width);
  return x.tape()->last();
}

template <class S>
static void merge_heads_backward(TapeOf<S>& t, NodeOf<S>& n) {
  MatrixOf<S>* gx = adjoint(t, n, 0);
  if (!gx) return;
  const Eigen::Index rows = n.value.rows(), width = gx->cols();
  const Eigen::Index heads = std::get<HeadsState>(n.state).heads;
  for (Eigen::Index h = 0; h < heads; ++h) gx->middleRows(h * rows, rows) += n.grad.middleCols(h * width, width);
}
template <class S>
VarOf<S> merge_heads(VarOf<S> x, Eigen::Index heads) {
  if (heads <= 0 || x.rows() % heads != 0)
    throw std::invalid_argument("ad::merge_heads: " + std::to_string(x.rows()) + " rows do not split into " +
                                std::to_string(heads) + " heads");
  NodeOf<S>& n = x.tape()->push(OpKind::MergeHeads, merge_heads_backward<S>, {x});
  reuse_state<HeadsState>(n).heads = heads;
  const Eigen::Index rows = x.rows() / heads, width = x.cols();
  n.value.resize(rows, heads * width);
  for (Eigen::Index h = 0; h < heads; ++h) n.value.middleCols(h * width, width) = x.value().middleRows(h * rows, rows);
  return x.tape()->last();
}

#define AD_INSTANTIATE_BLOCK_OPS(S)                                                                    \
  template VarOf<S> batched_scores(VarOf<S>, VarOf<S>, Eigen::Index, double);                          \
  template VarOf<S> batched_weighted_sum(VarOf<S>, VarOf<S>, Eigen::Index);                            \
  template VarOf<S> split_heads(VarOf<S>, Eigen::Index);                                               \
  template VarOf<S> merge_heads(VarOf<S>, Eigen::Index);
AD_INSTANTIATE_BLOCK_OPS(double)
AD_INSTANTIATE_BLOCK_OPS(float)
#undef AD_INSTANTIATE_BLOCK_OPS

}  // namespace ad
