#pragma once
// A small GPT: a decoder-only, pre-LayerNorm transformer over characters, read top to bottom like nanoGPT's
// model.py (Radford et al. 2019; Karpathy's nanoGPT):
//   x = E[tokens] + P[positions]                               token embedding E (V × d), learned positions P (n × d)
//   for each of L blocks:
//     x = x + Attn(LN₁(x)) W^O + b^O                           causal multi-head self-attention, every scale mode
//     x = x + GELU(LN₂(x) W₁ + b₁) W₂ + b₂                     MLP of width 4d
//   logits = LN_f(x) Eᵀ                                        output projection tied to the embedding (as nanoGPT)
//   loss = mean over positions of −log softmax(logits)[next token]
// Attention in block l: Q = h W^Q, K = h W^K, V = h W^V (W^Q, W^K: d × H·d_k; W^V: d × H·d_v), heads moved to row
// blocks (ad::split_heads), scores scaled as the scale mode says (models/scale_modes.hpp: a fixed factor of d_k,
// or a learned s = exp θ per block; qknorm L2-normalises the rows of Q and K first), then the fused causal op
// ad::attention. No dropout, no biases in W^Q, W^K, W^V (nanoGPT's bias=False variant keeps none anywhere; the
// biases of W^O and the MLP are kept here).
//
// Initialisation: W^Q, W^K, W^V and W₁ from N(0, 1/d) (unit-variance q and k for the LayerNorm's unit-variance
// rows: the premise of the √d_k argument), W^O and W₂ from N(0, 1/(fan_in·2L)) (GPT-2's scaled residual
// projections), E and P from N(0, 0.02²), LayerNorm gains 1, biases 0. Weights are drawn in double and rounded
// once, so a float model starts from the double one's weights of the same seed.
//
// B sequences of n tokens are one (B·n)-row matrix, sequence b in rows b·n .. b·n+n−1. Templated on the scalar
// (compiled for float and double in lm.cpp): Lm is the double model, LmF the float one.
#include <string>
#include <vector>

#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"
#include "models/scale_modes.hpp"

namespace models {

struct LmConfig {
  Eigen::Index vocab = 0;     // V: distinct characters
  Eigen::Index context = 64;  // n: positions per sequence (the table P has n rows)
  Eigen::Index d_model = 128, heads = 4, d_k = 32, d_v = 32;  // d_k, d_v per head
  Eigen::Index layers = 4;
  Eigen::Index mlp_width = 0;  // 0: 4·d_model
  ScaleMode scale = ScaleMode::Sqrt;
  double init_std = 0.0;       // std of W^Q, W^K, W^V, W₁; ≤ 0: 1/√d_model
};

// One forward pass: the logits, the loss and, per block, the attention op's node (ad::attention_tiles reads
// its logits, weights and after backward ∂L/∂S).
template <class S>
struct LmForwardOf {
  ad::VarOf<S> logits, loss;
  std::vector<ad::VarOf<S>> attention;
};

template <class S>
class LmOf {
 public:
  using Tape = ad::TapeOf<S>;
  using Var = ad::VarOf<S>;
  using Parameter = ad::ParameterOf<S>;

  LmOf(const LmConfig& config, ad::Rng& rng);

  // tokens and targets: B·n each (a target of −1 is not scored); both must outlive the backward pass.
  LmForwardOf<S> forward(Tape& tape, const std::vector<int>& tokens, const std::vector<int>& targets, Eigen::Index batch);
  // The same computation with the weights given as nodes, in parameters() order (for the gradient check).
  LmForwardOf<S> apply(const std::vector<Var>& weights, const std::vector<int>& tokens, const std::vector<int>& targets,
                       Eigen::Index batch);

  const LmConfig& config() const { return config_; }
  // E, P, then per block l: block<l>.ln1_gain, .ln1_bias, .W_Q, .W_K, .W_V, [.scale], .W_O, .b_O, .ln2_gain,
  // .ln2_bias, .W_1, .b_1, .W_2, .b_2; then lnf_gain, lnf_bias. Names have no '/' (they name datasets).
  std::vector<Parameter*> parameters();
  Parameter* find(const std::string& name);

 private:
  struct Block {
    Parameter ln1_gain, ln1_bias, w_q, w_k, w_v, log_scale, w_o, b_o, ln2_gain, ln2_bias, w_1, b_1, w_2, b_2;
  };
  LmConfig config_;
  Parameter tok_emb_, pos_emb_, lnf_gain_, lnf_bias_;
  std::vector<Block> blocks_;
  std::vector<int> positions_;  // r mod n for the last batch's rows: kept, as gather_rows needs it at backward
};

extern template class LmOf<double>;
extern template class LmOf<float>;

using Lm = LmOf<double>;
using LmF = LmOf<float>;
using LmForward = LmForwardOf<double>;

}  // namespace models
