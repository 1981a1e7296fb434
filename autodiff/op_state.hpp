#pragma once
// What an op's forward keeps for its backward, typed: one struct per kind of state, held by the node in a
// std::variant. Backward reads it with std::get<T>, which checks the type (no cast from void*), in the manner
// of Stan Math's reverse mode, where each vari captures typed copies of what its chain() needs.
//
// The matrices in a state are arena storage like the node's value: when the next evaluation records the same
// op on the same node, Node::reuse_state<T>() finds a state of the same type and hands its matrices back with
// their sizes, so a warmed-up step allocates nothing. Pointers are to data the caller owns (class targets, a
// mask): it must outlive the backward pass, as ops.hpp says.
#include <Eigen/Dense>

#include <variant>
#include <vector>

namespace ad {

using Matrix = Eigen::MatrixXd;
using BoolMatrix = Eigen::Array<bool, Eigen::Dynamic, Eigen::Dynamic>;

struct AddSubState {  // add, sub
  double sign = 1.0;  // +1 add, −1 sub
};
struct FactorState {    // scale, sum, mean: dY/dx = factor (times the upstream adjoint)
  double factor = 1.0;  // s for scale, 1 for sum, 1/size for mean
};
struct SoftmaxState {  // softmax_rows
  Matrix row_scratch;  // rows×1: the row max and sum in forward, ⟨g, p⟩ per row in backward
};
struct LogSoftmaxState {  // log_softmax_rows
  Matrix row_live;        // rows×1: 1 where the row has an entry above −inf, 0 for a fully masked row
};
struct CrossEntropyState {
  const std::vector<int>* targets = nullptr;  // caller-owned; −1 ignores a row
  double counted = 0.0;                       // rows with a target (the mean's divisor)
  Matrix probabilities;                       // softmax of the logits
  Matrix row_scratch;                         // rows×1, for the softmax
};
struct MseState {     // mean_squared_error
  Matrix difference;  // prediction − target
};
struct LayerNormState {  // layer_norm_rows, with and without gain and bias
  double eps = 0.0;
  Matrix normalized;  // x̂ = (x − μ)/σ
  Matrix inv_sigma;   // rows×1: 1/σ, σ = √(var + eps)
};
struct L2NormalizeState {  // l2_normalize_rows
  Matrix inv_norm;         // rows×1: 1/√(Σx² + eps)
};
struct MaskState {
  const BoolMatrix* hidden = nullptr;  // caller-owned; true entries became −inf
};
struct SliceState {  // slice_cols
  Eigen::Index first = 0;
};
struct BatchedState {  // batched_scores, batched_weighted_sum
  Eigen::Index batch = 0;
  double scale = 1.0;  // batched_scores' fixed factor
};

struct HeadsState {  // split_heads, merge_heads
  Eigen::Index heads = 0;
};

// Ops without state (leaves, matmul, transpose, elementwise functions…) leave std::monostate.
using OpState = std::variant<std::monostate, AddSubState, FactorState, SoftmaxState, LogSoftmaxState,
                             CrossEntropyState, MseState, LayerNormState, L2NormalizeState, MaskState, SliceState,
                             BatchedState, HeadsState>;

}  // namespace ad
