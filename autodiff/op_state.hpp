#pragma once
// What an op's forward keeps for its backward, typed: one struct per kind of state, held by the node in a
// std::variant. Backward reads it with std::get<T>, which checks the type (no cast from void*), in the manner
// of Stan Math's reverse mode, where each vari captures typed copies of what its chain() needs.
//
// The matrices in a state are arena storage like the node's value: when the next evaluation records the same
// op on the same node, Node::reuse_state<T>() finds a state of the same type and hands its matrices back with
// their sizes, so a warmed-up step allocates nothing. Pointers are to data the caller owns (class targets, a
// mask): it must outlive the backward pass, as ops.hpp says.
//
// The engine runs in float or double (`Scalar`); a state holds matrices and numbers of its node's scalar.
#include <Eigen/Core>

#include <variant>
#include <vector>

namespace ad {

template <class Scalar>
using MatrixOf = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
using Matrix = MatrixOf<double>;
using MatrixF = MatrixOf<float>;
using BoolMatrix = Eigen::Array<bool, Eigen::Dynamic, Eigen::Dynamic>;

template <class Scalar>
struct AddSubState {  // add, sub
  Scalar sign = 1;    // +1 add, −1 sub
};
template <class Scalar>
struct FactorState {  // scale, sum, mean: dY/dx = factor (times the upstream adjoint)
  Scalar factor = 1;  // s for scale, 1 for sum, 1/size for mean
};
template <class Scalar>
struct SoftmaxState {            // softmax_rows
  MatrixOf<Scalar> row_scratch;  // rows×1: the row max and sum in forward, ⟨g, p⟩ per row in backward
};
template <class Scalar>
struct LogSoftmaxState {      // log_softmax_rows
  MatrixOf<Scalar> row_live;  // rows×1: 1 where the row has an entry above −inf, 0 for a fully masked row
};
template <class Scalar>
struct CrossEntropyState {
  const std::vector<int>* targets = nullptr;  // caller-owned; −1 ignores a row
  Scalar counted = 0;                         // rows with a target (the mean's divisor)
  MatrixOf<Scalar> probabilities;             // softmax of the logits
  MatrixOf<Scalar> row_scratch;               // rows×1, for the softmax
};
template <class Scalar>
struct MseState {               // mean_squared_error
  MatrixOf<Scalar> difference;  // prediction − target
};
template <class Scalar>
struct LayerNormState {  // layer_norm_rows, with and without gain and bias
  Scalar eps = 0;
  MatrixOf<Scalar> normalized;  // x̂ = (x − μ)/σ
  MatrixOf<Scalar> inv_sigma;   // rows×1: 1/σ, σ = √(var + eps)
};
template <class Scalar>
struct L2NormalizeState {     // l2_normalize_rows
  MatrixOf<Scalar> inv_norm;  // rows×1: 1/√(Σx² + eps)
};
struct MaskState {
  const BoolMatrix* hidden = nullptr;  // caller-owned; true entries became −inf
};
struct SliceState {  // slice_cols
  Eigen::Index first = 0;
};
template <class Scalar>
struct BatchedState {  // batched_scores, batched_weighted_sum
  Eigen::Index batch = 0;
  Scalar scale = 1;  // batched_scores' fixed factor
};

struct HeadsState {  // split_heads, merge_heads
  Eigen::Index heads = 0;
};
struct GatherState {                      // gather_rows
  const std::vector<int>* ids = nullptr;  // caller-owned: row r of the output is row ids[r] of the table
};

// Fused attention (attention_op.cpp). Besides what its backward needs (the weights), it keeps what the
// attention metrics read, in the layout of the unfused chain (B·nq × nk, block b in rows b·nq ..), so that
// nothing is recomputed for them: the logits before the mask, the weights, and after backward the logits'
// adjoint.
template <class Scalar>
struct AttentionScratch {    // one per thread of a call: a tile of query rows, reused block after block
  MatrixOf<Scalar> tile;     // rows × nk: the logits, then the weights (forward); dA, then dS (backward)
  MatrixOf<Scalar> row;      // rows × 2: row max then 1/Σ, and a shifted column (forward); ⟨dA, A⟩ (backward)
  MatrixOf<Scalar> product;  // rows × d: dS·K_b, when the learned scale needs ⟨dS·K_b, Q_b⟩
};
template <class Scalar>
struct AttentionState {
  Eigen::Index batch = 0;
  Scalar scale = 1;             // the fixed scale, or the learned one's value at this evaluation
  bool causal = false;          // query i of a block sees keys j ≤ i
  bool learned_scale = false;   // the scale is input 3, a 1×1 node
  MatrixOf<Scalar> logits;      // S = scale·Q_b K_bᵀ, before the mask
  MatrixOf<Scalar> weights;     // A = softmax of the masked S, row by row
  MatrixOf<Scalar> logit_grad;  // ∂L/∂S (0 at masked entries), written by backward
  bool has_logit_grad = false;  // false from the forward until a backward pass has written logit_grad
  MatrixOf<Scalar> scale_grad;  // batch × 1: each block's ⟨∂L/∂S_b, Q_b K_bᵀ⟩, summed in block order
  std::vector<AttentionScratch<Scalar>> scratch;
};

// Ops without state (leaves, matmul, transpose, elementwise functions…) leave std::monostate.
template <class Scalar>
using OpState = std::variant<std::monostate, AddSubState<Scalar>, FactorState<Scalar>, SoftmaxState<Scalar>,
                             LogSoftmaxState<Scalar>, CrossEntropyState<Scalar>, MseState<Scalar>,
                             LayerNormState<Scalar>, L2NormalizeState<Scalar>, MaskState, SliceState,
                             BatchedState<Scalar>, HeadsState, AttentionState<Scalar>, GatherState>;

}  // namespace ad
