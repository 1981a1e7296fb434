#pragma once
// The ops of the engine. Every function records one node on the tape of its inputs; the derivative rules
// live next to the forward code in ops.cpp.
#include <vector>

#include "autodiff/tape.hpp"

namespace ad {

// Linear algebra
Var matmul(Var a, Var b);     // a·b
Var transpose(Var a);         // aᵀ
Var add(Var a, Var b);        // a + b; b may be a 1×cols row broadcast over a's rows
Var sub(Var a, Var b);        // a − b; same broadcast
Var mul(Var a, Var b);        // elementwise a ⊙ b
Var scale(Var a, double s);   // s·a for a fixed number s
Var scale_by(Var a, Var s);   // s·a for a 1×1 node s (a learned scale)

// Reductions to a 1×1
Var sum(Var a);
Var mean(Var a);

// Elementwise functions
Var exp(Var a);
Var log(Var a);
Var tanh(Var a);
Var relu(Var a);
Var gelu(Var a);  // exact form x·Φ(x)

// Row-wise normalisations. Softmax and log-softmax subtract the row max, so logits of ±1e4 are fine;
// entries at −inf (masked) get weight 0, and a row that is entirely −inf gives zeros, never NaN.
Var softmax_rows(Var logits);
Var log_softmax_rows(Var logits);
Var layer_norm_rows(Var x, double eps = 1e-5);
Var layer_norm_rows(Var x, Var gain, Var bias, double eps = 1e-5);  // gain, bias are 1×cols
Var l2_normalize_rows(Var x, double eps = 1e-12);

// Losses (1×1)
// Mean over rows of −log softmax(logits)[row, target]; a target of −1 ignores that row.
// `targets` must outlive the backward pass.
Var cross_entropy(Var logits, const std::vector<int>& targets);
Var mean_squared_error(Var prediction, Var target);  // mean over all elements of (prediction − target)²

// Masking: entries where `hidden` is true become −inf. `hidden` must outlive the backward pass.
Var mask(Var logits, const BoolMatrix& hidden);

// Splitting and joining heads
Var slice_cols(Var a, Eigen::Index first, Eigen::Index count);
Var concat_cols(Var a, Var b);

// Batched attention. B sequences are stored as one matrix: rows b·n .. b·n+n−1 belong to sequence b.
// batched_scores: Q (B·nq × d), K (B·nk × d) → S (B·nq × nk) with S_b = s·Q_b K_bᵀ (s a fixed number,
// folded into the products: no separate pass over S).
// batched_weighted_sum: A (B·nq × nk), V (B·nk × dv) → Z (B·nq × dv) with Z_b = A_b V_b.
Var batched_scores(Var queries, Var keys, Eigen::Index batch, double scale = 1.0);
Var batched_weighted_sum(Var weights, Var values, Eigen::Index batch);

// Multi-head attention runs h heads as h·B blocks of the batched ops above. split_heads takes
// X (R × h·d), whose column block i is head i, to (h·R × d) with head i in rows i·R .. i·R+R−1 (so with
// R = B·n, block (head i, sequence b) starts at row (i·B + b)·n); merge_heads is its inverse.
Var split_heads(Var x, Eigen::Index heads);
Var merge_heads(Var x, Eigen::Index heads);

}  // namespace ad
