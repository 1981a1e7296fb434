// Fused attention, forward and backward side by side. Per block (one sequence of one head) the query rows
// go through in tiles of attention_tile_rows(nk) rows: a tile of logits s·Q_t K_bᵀ is computed into a
// per-thread scratch that stays in cache, and mask, softmax and the weighted sum run on it before the next
// tile; backward does the same with dA = G_t V_bᵀ and dS = A ⊙ (dA − ⟨dA, A⟩). The unfused chain instead
// writes each intermediate (S, the masked S, A and their adjoints) to memory as a whole matrix, walks it once
// per pass, and has the tape zero and accumulate three extra adjoints.
//
// With the causal mask, a tile of rows r0 .. r0+m−1 sees only keys 0 .. r0+m−1: the products after the
// logits (the weighted sum and every backward product) skip the hidden keys, about half the work at nq = nk.
// The logits themselves are computed for every key, because the metrics read S before the mask.
//
// With workers, blocks are shared out; each block is computed by one thread, tile by tile in the same
// order whatever the team, so the result is the same bits for any number of threads. The learned scale's
// gradient is summed per block first, then over blocks in block order, for the same reason.
#include <atomic>
#include <cmath>
#include <stdexcept>
#include <string>

#include "autodiff/op_support.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/workers.hpp"

namespace ad {
using detail::adjoint;
using detail::input;
using detail::kExpFloor;
using detail::kInf;
using detail::reuse_state;
using detail::rows_per_block;
using detail::shape_error;

// A tile of rows × nk scalars of about 256 KiB (an eighth of a core's L2 here), next to K_b and V_b, leaves
// room for the products' packed panels. At least one register block of rows (kRowGranule), so that a tile's
// logits are computed by the same kernel path, and have the same bits, as batched_scores' whole-block product.
template <class S>
Eigen::Index attention_tile_rows(Eigen::Index n_key) {
  constexpr Eigen::Index kTileBytes = 256 * 1024;
  const Eigen::Index fit = kTileBytes / (std::max<Eigen::Index>(n_key, 1) * static_cast<Eigen::Index>(sizeof(S)));
  return std::max(kRowGranule, fit / kRowGranule * kRowGranule);
}

namespace {

// Shares the blocks out over the tape's workers; each running range gets its own scratch (slot), so
// threads never share a tile. `scratch` has one entry per thread the team may run.
template <class S, class Body>
void for_blocks_with_scratch(Workers* workers, AttentionState<S>& st, double work, Body&& block) {
  std::atomic<int> next_slot{0};
  parallel_ranges(workers, st.batch, 1, work, [&](Eigen::Index first, Eigen::Index count) {
    AttentionScratch<S>& scratch = st.scratch[static_cast<size_t>(next_slot.fetch_add(1))];
    for (Eigen::Index b = first; b < first + count; ++b) block(b, scratch);
  });
}

// Keys that some row of the tile starting at block row r0 with m rows sees.
Eigen::Index visible_keys(bool causal, Eigen::Index r0, Eigen::Index m, Eigen::Index nk) {
  return causal ? std::min(nk, r0 + m) : nk;
}

// The masked softmax of a tile's logits, in place, on its first `visible` columns (the rest are hidden from
// every row of the tile and get weight 0). The same steps, column by column, as softmax_rows (ops.cpp):
// row max, exp with the floor, 1/Σ, scale; a row with no visible entry gives zeros. `rows` is m × 2 scratch.
template <class S, class Tile, class Rows>
void masked_softmax_in_place(Tile& t, Rows rows, Eigen::Index r0, bool causal, Eigen::Index visible) {
  const Eigen::Index m = t.rows();
  auto top = rows.col(0);
  auto shifted = rows.col(1);
  if (causal)  // key j is hidden from tile row i when j > r0 + i, i.e. for rows i < j − r0
    for (Eigen::Index j = r0 + 1; j < visible; ++j) t.col(j).head(std::min(m, j - r0)).setConstant(-kInf<S>);
  auto live = t.leftCols(visible);
  top = live.rowwise().maxCoeff();
  top = (top.array() == -kInf<S>).select(S(0), top.array()).matrix();  // a row with nothing visible: zeros
  for (Eigen::Index j = 0; j < visible; ++j) {
    auto col = t.col(j);
    shifted = col - top;
    col.array() = shifted.array().exp();
    if (shifted.minCoeff() < kExpFloor<S>)  // masked or saturated entries: exactly 0 (see kExpFloor)
      for (Eigen::Index i = 0; i < m; ++i)
        if (shifted(i) < kExpFloor<S>) col(i) = S(0);
  }
  top = live.rowwise().sum();
  top = (top.array() > S(0)).select(top.array().inverse(), S(0)).matrix();
  for (Eigen::Index j = 0; j < visible; ++j) t.col(j).array() *= top.array();
  t.rightCols(t.cols() - visible).setZero();
}

// One scratch per thread the tape's team may run, each sized for a tile (sizes unchanged from the last
// evaluation of the same graph: no allocation).
template <class S>
void prepare_scratch(AttentionState<S>& st, Workers* workers, Eigen::Index rows, Eigen::Index nk, Eigen::Index d) {
  const size_t slots = static_cast<size_t>(workers ? workers->threads() : 1);
  if (st.scratch.size() < slots) st.scratch.resize(slots);
  for (AttentionScratch<S>& scratch : st.scratch) {
    scratch.tile.resize(rows, nk);
    scratch.row.resize(rows, 2);
    scratch.product.resize(rows, d);
  }
}

}  // namespace

// ------------------------------------------------------------------------------------------- backward
// Per tile t of block b (G_t the output's adjoint, A_t the weights):
//   dV_b += A_tᵀ G_t,  dA = G_t V_bᵀ,  dS = A_t ⊙ (dA − ⟨dA, A_t⟩ per row),
//   dQ_t += s·dS K_b,  dK_b += s·dSᵀ Q_t,  ds += ⟨dS K_b, Q_t⟩ (a learned scale s).
template <class S>
static void attention_backward(TapeOf<S>& tape, NodeOf<S>& n) {
  AttentionState<S>& st = std::get<AttentionState<S>>(n.state);
  const MatrixOf<S>& q = input(tape, n, 0).value;
  const MatrixOf<S>& k = input(tape, n, 1).value;
  const MatrixOf<S>& v = input(tape, n, 2).value;
  MatrixOf<S>* gq = adjoint(tape, n, 0);
  MatrixOf<S>* gk = adjoint(tape, n, 1);
  MatrixOf<S>* gv = adjoint(tape, n, 2);
  MatrixOf<S>* gs = st.learned_scale ? adjoint(tape, n, 3) : nullptr;
  const S s = st.scale;
  const Eigen::Index nq = q.rows() / st.batch, nk = k.rows() / st.batch;
  const Eigen::Index rows = std::min(attention_tile_rows<S>(nk), nq);
  prepare_scratch(st, tape.workers(), rows, nk, q.cols());
  st.logit_grad.resize(q.rows(), nk);
  st.scale_grad.setZero(st.batch, 1);
  const double work = 4.0 * static_cast<double>(q.rows()) * static_cast<double>(nk * (q.cols() + v.cols()));
  for_blocks_with_scratch(tape.workers(), st, work, [&](Eigen::Index b, AttentionScratch<S>& scratch) {
    const auto qb = q.middleRows(b * nq, nq);
    const auto kb = k.middleRows(b * nk, nk);
    const auto vb = v.middleRows(b * nk, nk);
    for (Eigen::Index r0 = 0; r0 < nq; r0 += rows) {
      const Eigen::Index m = std::min(rows, nq - r0), first = b * nq + r0;
      const Eigen::Index seen = visible_keys(st.causal, r0, m, nk);
      const auto g = n.grad.middleRows(first, m);
      const auto a = st.weights.block(first, 0, m, seen);
      if (gv) gv->middleRows(b * nk, seen).noalias() += a.transpose() * g;
      auto t = scratch.tile.topLeftCorner(m, seen);
      auto gp = scratch.row.col(0).head(m);
      t.noalias() = g * vb.topRows(seen).transpose();  // dA
      gp = t.cwiseProduct(a).rowwise().sum();
      for (Eigen::Index j = 0; j < seen; ++j) t.col(j).array() = a.col(j).array() * (t.col(j) - gp).array();  // dS
      st.logit_grad.block(first, 0, m, seen) = t;
      st.logit_grad.block(first, seen, m, nk - seen).setZero();
      if (gk) gk->middleRows(b * nk, seen).noalias() += s * t.transpose() * qb.middleRows(r0, m);
      if (gs) {  // dS·K_b once, for both dQ and the scale's ⟨dS·K_b, Q_t⟩
        auto dk = scratch.product.topRows(m);
        dk.noalias() = t * kb.topRows(seen);
        if (gq) gq->middleRows(first, m).noalias() += s * dk;
        st.scale_grad(b, 0) += dk.cwiseProduct(qb.middleRows(r0, m)).sum();
      } else if (gq) {
        gq->middleRows(first, m).noalias() += s * t * kb.topRows(seen);
      }
    }
  });
  if (gs) (*gs)(0, 0) += st.scale_grad.sum();  // blocks in order: the same bits for any team
  st.has_logit_grad = true;
}

// -------------------------------------------------------------------------------------------- forward
template <class S>
static VarOf<S> record_attention(VarOf<S> queries, VarOf<S> keys, VarOf<S> values, Eigen::Index batch,
                                 const VarOf<S>* learned, S fixed, AttentionMask mask) {
  const MatrixOf<S>& q = queries.value();
  const MatrixOf<S>& k = keys.value();
  const MatrixOf<S>& v = values.value();
  if (q.cols() != k.cols()) shape_error("attention", q, k);
  const Eigen::Index nq = rows_per_block(q.rows(), batch, "attention");
  const Eigen::Index nk = rows_per_block(k.rows(), batch, "attention");
  if (v.rows() != k.rows()) shape_error("attention", k, v);
  if (learned && (learned->rows() != 1 || learned->cols() != 1))
    throw std::invalid_argument("ad::attention: the learned scale must be 1x1, not " + std::to_string(learned->rows()) +
                                "x" + std::to_string(learned->cols()));
  TapeOf<S>& tape = *queries.tape();
  NodeOf<S>& n = learned ? tape.push(OpKind::Attention, attention_backward<S>, {queries, keys, values, *learned})
                         : tape.push(OpKind::Attention, attention_backward<S>, {queries, keys, values});
  AttentionState<S>& st = reuse_state<AttentionState<S>>(n);
  st.batch = batch;
  st.learned_scale = learned != nullptr;
  st.scale = learned ? learned->value()(0, 0) : fixed;
  st.causal = mask == AttentionMask::Causal;
  st.has_logit_grad = false;
  const Eigen::Index rows = std::min(attention_tile_rows<S>(nk), nq);
  prepare_scratch(st, tape.workers(), rows, nk, q.cols());
  st.logits.resize(q.rows(), nk);
  st.weights.resize(q.rows(), nk);
  n.value.resize(q.rows(), v.cols());
  const S s = st.scale;
  const double work = 2.0 * static_cast<double>(q.rows()) * static_cast<double>(nk * (q.cols() + v.cols()));
  for_blocks_with_scratch(tape.workers(), st, work, [&](Eigen::Index b, AttentionScratch<S>& scratch) {
    const auto kb = k.middleRows(b * nk, nk);
    const auto vb = v.middleRows(b * nk, nk);
    for (Eigen::Index r0 = 0; r0 < nq; r0 += rows) {
      const Eigen::Index m = std::min(rows, nq - r0), first = b * nq + r0;
      const Eigen::Index seen = visible_keys(st.causal, r0, m, nk);
      auto t = scratch.tile.topRows(m);
      t.noalias() = s * q.middleRows(first, m) * kb.transpose();
      st.logits.middleRows(first, m) = t;
      masked_softmax_in_place<S>(t, scratch.row.topRows(m), r0, st.causal, seen);
      st.weights.middleRows(first, m) = t;
      n.value.middleRows(first, m).noalias() = t.leftCols(seen) * vb.topRows(seen);
    }
  });
  return tape.last();
}

template <class S>
VarOf<S> attention(VarOf<S> queries, VarOf<S> keys, VarOf<S> values, Eigen::Index batch, double scale, AttentionMask mask) {
  return record_attention<S>(queries, keys, values, batch, nullptr, static_cast<S>(scale), mask);
}
template <class S>
VarOf<S> attention(VarOf<S> queries, VarOf<S> keys, VarOf<S> values, Eigen::Index batch, VarOf<S> scale, AttentionMask mask) {
  return record_attention<S>(queries, keys, values, batch, &scale, S(1), mask);
}

template <class S>
const AttentionState<S>& attention_tiles(VarOf<S> output) {
  const AttentionState<S>* st = output.tape() ? std::get_if<AttentionState<S>>(&output.node().state) : nullptr;
  if (!st || output.node().op != OpKind::Attention)
    throw std::invalid_argument("ad::attention_tiles: the node is not an attention node");
  return *st;
}

#define AD_INSTANTIATE_ATTENTION(S)                                                                       \
  template Eigen::Index attention_tile_rows<S>(Eigen::Index);                                             \
  template VarOf<S> attention(VarOf<S>, VarOf<S>, VarOf<S>, Eigen::Index, double, AttentionMask);         \
  template VarOf<S> attention(VarOf<S>, VarOf<S>, VarOf<S>, Eigen::Index, VarOf<S>, AttentionMask);       \
  template const AttentionState<S>& attention_tiles(VarOf<S>);
AD_INSTANTIATE_ATTENTION(double)
AD_INSTANTIATE_ATTENTION(float)
#undef AD_INSTANTIATE_ATTENTION

}  // namespace ad
