#pragma once
// The ops of the engine. Every function records one node on the tape of its inputs; the derivative rules
// live next to the forward code in ops.cpp.
//
// Each op is a template over the scalar of its tape, compiled for float and double in ops.cpp: the same call
// works on a Tape (double) and a TapeF (float). Fixed numbers (a scale, an eps) are given as double and
// rounded once to the tape's scalar.
#include <vector>

#include "autodiff/tape.hpp"

namespace ad {

// Linear algebra
template <class S> VarOf<S> matmul(VarOf<S> a, VarOf<S> b);    // a·b
template <class S> VarOf<S> transpose(VarOf<S> a);             // aᵀ
template <class S> VarOf<S> add(VarOf<S> a, VarOf<S> b);       // a + b; b may be a 1×cols row broadcast over a's rows
template <class S> VarOf<S> sub(VarOf<S> a, VarOf<S> b);       // a − b; same broadcast
template <class S> VarOf<S> mul(VarOf<S> a, VarOf<S> b);       // elementwise a ⊙ b
template <class S> VarOf<S> scale(VarOf<S> a, double s);       // s·a for a fixed number s
template <class S> VarOf<S> scale_by(VarOf<S> a, VarOf<S> s);  // s·a for a 1×1 node s (a learned scale)

// Reductions to a 1×1
template <class S> VarOf<S> sum(VarOf<S> a);
template <class S> VarOf<S> mean(VarOf<S> a);

// Elementwise functions
template <class S> VarOf<S> exp(VarOf<S> a);
template <class S> VarOf<S> log(VarOf<S> a);
template <class S> VarOf<S> tanh(VarOf<S> a);
template <class S> VarOf<S> relu(VarOf<S> a);
template <class S> VarOf<S> gelu(VarOf<S> a);  // exact form x·Φ(x)

// Row-wise normalisations. Softmax and log-softmax subtract the row max, so logits of ±1e4 are fine;
// entries at −inf (masked) get weight 0, and a row that is entirely −inf gives zeros, never NaN.
template <class S> VarOf<S> softmax_rows(VarOf<S> logits);
template <class S> VarOf<S> log_softmax_rows(VarOf<S> logits);
template <class S> VarOf<S> layer_norm_rows(VarOf<S> x, double eps = 1e-5);
template <class S> VarOf<S> layer_norm_rows(VarOf<S> x, VarOf<S> gain, VarOf<S> bias, double eps = 1e-5);  // gain, bias are 1×cols
template <class S> VarOf<S> l2_normalize_rows(VarOf<S> x, double eps = 1e-12);

// Losses (1×1)
// Mean over rows of −log softmax(logits)[row, target]; a target of −1 ignores that row.
// `targets` must outlive the backward pass.
template <class S> VarOf<S> cross_entropy(VarOf<S> logits, const std::vector<int>& targets);
template <class S> VarOf<S> mean_squared_error(VarOf<S> prediction, VarOf<S> target);  // mean over all elements of (prediction − target)²

// Masking: entries where `hidden` is true become −inf. `hidden` must outlive the backward pass.
template <class S> VarOf<S> mask(VarOf<S> logits, const BoolMatrix& hidden);

// Splitting and joining heads
template <class S> VarOf<S> slice_cols(VarOf<S> a, Eigen::Index first, Eigen::Index count);
template <class S> VarOf<S> concat_cols(VarOf<S> a, VarOf<S> b);

// Row gather (embedding_op.cpp): row r of the result is row ids[r] of `table` (a token embedding's lookup:
// table V × d, ids of B·n tokens → B·n × d); backward adds row r of the adjoint into row ids[r] of the
// table's, so a token seen twice receives the sum. Every id must be in 0 .. table.rows()−1. `ids` must outlive
// the backward pass.
template <class S> VarOf<S> gather_rows(VarOf<S> table, const std::vector<int>& ids);

// Batched attention. B sequences are stored as one matrix: rows b·n .. b·n+n−1 belong to sequence b.
// batched_scores: Q (B·nq × d), K (B·nk × d) → S (B·nq × nk) with S_b = s·Q_b K_bᵀ (s a fixed number,
// folded into the products: no separate pass over S).
// batched_weighted_sum: A (B·nq × nk), V (B·nk × dv) → Z (B·nq × dv) with Z_b = A_b V_b.
template <class S> VarOf<S> batched_scores(VarOf<S> queries, VarOf<S> keys, Eigen::Index batch, double scale = 1.0);
template <class S> VarOf<S> batched_weighted_sum(VarOf<S> weights, VarOf<S> values, Eigen::Index batch);

// Multi-head attention runs h heads as h·B blocks of the batched ops above. split_heads takes
// X (R × h·d), whose column block i is head i, to (h·R × d) with head i in rows i·R .. i·R+R−1 (so with
// R = B·n, block (head i, sequence b) starts at row (i·B + b)·n); merge_heads is its inverse.
template <class S> VarOf<S> split_heads(VarOf<S> x, Eigen::Index heads);
template <class S> VarOf<S> merge_heads(VarOf<S> x, Eigen::Index heads);

// Fused attention (attention_op.cpp): Z_b = softmax(mask(s·Q_b K_bᵀ)) V_b for each of the `batch` blocks, in the
// layout of the batched ops above (Q: B·nq × d, K: B·nk × d, V: B·nk × dv, Z: B·nq × dv; heads as row blocks
// after split_heads), the same values as
//   batched_weighted_sum(softmax_rows([mask](batched_scores(Q, K, B, s))), V, B)
// up to the order of sums. Scores, mask, softmax and the weighted sum run tile by tile (a few dozen query
// rows of one block at a time, sized to stay in cache), forward and backward, with no node in between.
// The causal mask hides key j from query i of a block when j > i (Attention::causal_mask's rule).
// The scale is a fixed number, or a 1×1 node (a learned scale such as exp θ), which then gets its gradient.
enum class AttentionMask { None, Causal };
template <class S>
VarOf<S> attention(VarOf<S> queries, VarOf<S> keys, VarOf<S> values, Eigen::Index batch, double scale,
                   AttentionMask mask = AttentionMask::None);
template <class S>
VarOf<S> attention(VarOf<S> queries, VarOf<S> keys, VarOf<S> values, Eigen::Index batch, VarOf<S> scale,
                   AttentionMask mask = AttentionMask::None);
// What the attention metrics read, kept by the op (op_state.hpp): `logits` (S before the mask), `weights` (A)
// and, once a backward pass has run, `logit_grad` (∂L/∂S; has_logit_grad says whether it is this
// evaluation's). Throws std::invalid_argument when `output` is not an attention node.
template <class S>
const AttentionState<S>& attention_tiles(VarOf<S> output);
// Query rows per tile for nk keys: what one thread works on at a time (exposed for tests and benchmarks).
template <class S>
Eigen::Index attention_tile_rows(Eigen::Index n_key);

}  // namespace ad
