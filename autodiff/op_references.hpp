#pragma once
// Reference forwards: every op's value computed from its definition with plain loops over entries, written
// independently of ops.cpp (no Eigen expressions, no blocking, no max-shift tricks). The op table pairs each
// op with its reference and a test checks that the two agree, so that a forward formula is checked by more
// than its own gradient (gradcheck compares the backward with the forward, and would pass a wrong forward
// whose backward is consistent with it).
//
// Conventions match ops.hpp: a row broadcast is a 1×cols b; masked entries are −inf; a row that is entirely
// −inf gives zeros from softmax and log-softmax; a target of −1 is ignored by cross-entropy.
#include <vector>

#include "autodiff/tape.hpp"

namespace ad::reference {

Matrix matmul(const Matrix& a, const Matrix& b);
Matrix transpose(const Matrix& a);
Matrix add(const Matrix& a, const Matrix& b, double sign = 1.0);  // a + sign·b, b same shape or a 1×cols row
Matrix mul(const Matrix& a, const Matrix& b);
Matrix scale(const Matrix& a, double s);
Matrix sum(const Matrix& a);   // 1×1
Matrix mean(const Matrix& a);  // 1×1
Matrix exp(const Matrix& a);
Matrix log(const Matrix& a);
Matrix tanh(const Matrix& a);
Matrix relu(const Matrix& a);
Matrix gelu(const Matrix& a);  // x·Φ(x), Φ(x) = ½(1 + erf(x/√2))
Matrix softmax_rows(const Matrix& x);
Matrix log_softmax_rows(const Matrix& x);
Matrix cross_entropy(const Matrix& logits, const std::vector<int>& targets);  // 1×1
Matrix mean_squared_error(const Matrix& prediction, const Matrix& target);    // 1×1
Matrix layer_norm_rows(const Matrix& x, double eps = 1e-5);                   // biased variance, as ops.cpp
Matrix layer_norm_rows(const Matrix& x, const Matrix& gain, const Matrix& bias, double eps = 1e-5);
Matrix l2_normalize_rows(const Matrix& x, double eps = 1e-12);  // x/√(Σx² + eps)
Matrix mask(const Matrix& logits, const BoolMatrix& hidden);
Matrix slice_cols(const Matrix& a, Eigen::Index first, Eigen::Index count);
Matrix concat_cols(const Matrix& a, const Matrix& b);
Matrix batched_scores(const Matrix& q, const Matrix& k, Eigen::Index batch, double scale = 1.0);
Matrix batched_weighted_sum(const Matrix& a, const Matrix& v, Eigen::Index batch);
Matrix split_heads(const Matrix& x, Eigen::Index heads);
Matrix merge_heads(const Matrix& x, Eigen::Index heads);
Matrix gather_rows(const Matrix& table, const std::vector<int>& ids);  // row r is table row ids[r]
// softmax(mask(s·Q_b K_bᵀ)) V_b per block, from the references above; `causal` hides key j from query i when j > i.
Matrix attention(const Matrix& q, const Matrix& k, const Matrix& v, Eigen::Index batch, double scale, bool causal);

}  // namespace ad::reference
