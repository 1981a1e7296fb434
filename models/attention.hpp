#pragma once
// Multi-head attention, exactly as in the papers (Vaswani et al. §3.2.2):
//   Q = X W^Q,  K = X_c W^K,  V = X_c W^V   (W^Q, W^K: d_model × h·d_k; W^V: d_model × h·d_v)
//   for each head i: S_i = s·Q_i K_iᵀ (+ causal mask),  A_i = softmax_rows(S_i),  Z_i = A_i V_i
//   Z = [Z_1 … Z_h],  Ŷ = Z W^O (W^O: h·d_v × d_out) or Ŷ = Z without W^O.
// X_c = X for self-attention; cross-attention takes keys and values from another sequence X_c.
// With h = 1 this is single-head attention, computed by the very same ops as before heads existed.
// B sequences of n rows are stored as one (B·n)×d_model matrix, so every projection is one matrix
// product over the whole batch. The heads are moved to row blocks (ad::split_heads), so that scores,
// softmax and the weighted sum see h·B blocks, head-major: block (head i, sequence b) is rows
// (i·B + b)·n .. +n of S and A. Each (sequence, head) pair is one block, as a sequence is with one head.
//
// The layer runs in either precision (AttentionOf<S>, compiled for float and double in attention.cpp):
// Attention is the double one, AttentionF the float one. A float layer starts from the double layer's
// initial weights of the same seed, rounded once, so that the two train from the same point.
#include <string>
#include <vector>

#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"
#include "models/scale_modes.hpp"

namespace models {

using ad::Matrix;

struct AttentionConfig {
  Eigen::Index d_model = 16, d_k = 8, d_v = 8;  // d_k and d_v per head
  Eigen::Index heads = 1;
  Eigen::Index d_out = 0;  // 0: no W^O, Ŷ = Z
  ScaleMode scale = ScaleMode::Sqrt;
  bool causal = false;
  double init_std = 0.0;  // ≤ 0: 1/√d_model, which gives q and k unit-variance components
};

// The nodes of one forward pass that the metrics read after backward.
template <class S>
struct AttentionNodesOf {
  using Var = ad::VarOf<S>;
  Var queries;  // Q = X W^Q, (B·n_query) × h·d_k: its adjoint gives the per-row query gradients
  Var logits;       // S, scaled, before the mask, (h·B·n_query) × n_key head-major: its adjoint is the
                    // gradient that passes the softmax
  Var weights;      // A, laid out like S
  Var output;       // Ŷ
};

// The weights as nodes of one tape: bound from the parameters for training, or given as plain inputs
// by the gradient checker. w_o and log_scale are unset (tape() == nullptr) when the model has none.
template <class S>
struct AttentionWeightsOf {
  ad::VarOf<S> w_q, w_k, w_v, w_o, log_scale;
};

template <class S>
class AttentionOf {
 public:
  using Tape = ad::TapeOf<S>;
  using Var = ad::VarOf<S>;
  using Parameter = ad::ParameterOf<S>;
  using Nodes = AttentionNodesOf<S>;
  using Weights = AttentionWeightsOf<S>;

  // Self-attention when forward() is given one sequence; cross-attention (queries from one sequence,
  // keys and values from another) when given two.
  AttentionOf(const AttentionConfig& config, ad::Rng& rng);

  Nodes forward(Tape& tape, Var x, Eigen::Index batch);
  Nodes forward(Tape& tape, Var x_query, Var x_context, Eigen::Index batch);
  // The same computation with the weights given as nodes.
  Nodes apply(Tape& tape, const Weights& w, Var x_query, Var x_context, Eigen::Index batch);
  Weights bind(Tape& tape);  // the parameters as nodes of `tape`
  // Only the scaled logits S of forward() (Q and S set, the rest unset): the same ops on the same inputs,
  // so S is bit for bit forward()'s, without the values, the softmax and the output (a probe of S).
  Nodes logits_only(Tape& tape, Var x_query, Var x_context, Eigen::Index batch);

  const AttentionConfig& config() const { return config_; }
  double initial_log_scale() const;  // θ at initialisation for learned and qknorm
  // W_Q, W_K, W_V, then W_O and scale when present, in that order.
  std::vector<Parameter*> parameters();
  Parameter* find(const std::string& name);
  // The causal mask of the last forward pass (entries a query may not see), for the metrics.
  const ad::BoolMatrix& causal_mask_in_use() const { return mask_; }

 private:
  const ad::BoolMatrix& causal_mask(Eigen::Index batch, Eigen::Index n_query, Eigen::Index n_key);
  Nodes compute(const Weights& w, Var x_query, Var x_context, Eigen::Index batch, bool logits_only);

  AttentionConfig config_;
  Parameter w_q_, w_k_, w_v_, w_o_, log_scale_;
  ad::BoolMatrix mask_;  // kept between steps so that a warmed-up step allocates nothing
};

extern template class AttentionOf<double>;
extern template class AttentionOf<float>;

using Attention = AttentionOf<double>;
using AttentionNodes = AttentionNodesOf<double>;
using AttentionWeights = AttentionWeightsOf<double>;
using AttentionF = AttentionOf<float>;
using AttentionNodesF = AttentionNodesOf<float>;

}  // namespace models
