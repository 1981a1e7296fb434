#include "models/lm.hpp"

#include <cmath>
#include <stdexcept>
#include <type_traits>

namespace models {
namespace {

template <class S>
ad::MatrixOf<S> normal(ad::Rng& rng, Eigen::Index rows, Eigen::Index cols, double std) {
  if constexpr (std::is_same_v<S, double>) return ad::random_normal(rng, rows, cols, std);
  else return ad::random_normal(rng, rows, cols, std).template cast<S>();
}
template <class S>
ad::MatrixOf<S> constant(Eigen::Index cols, double value) {
  return ad::MatrixOf<S>::Constant(1, cols, static_cast<S>(value));
}

}  // namespace

template <class S>
LmOf<S>::LmOf(const LmConfig& config, ad::Rng& rng) : config_(config) {
  const LmConfig& c = config;
  if (c.vocab <= 0 || c.context <= 0 || c.d_model <= 0 || c.heads <= 0 || c.d_k <= 0 || c.d_v <= 0 || c.layers <= 0 ||
      c.mlp_width < 0)
    throw std::invalid_argument("language model sizes must be positive");
  const Eigen::Index d = c.d_model, qk = c.heads * c.d_k, v = c.heads * c.d_v;
  const Eigen::Index mlp = c.mlp_width > 0 ? c.mlp_width : 4 * d;
  config_.mlp_width = mlp;
  const double std = c.init_std > 0 ? c.init_std : 1.0 / std::sqrt(static_cast<double>(d));
  config_.init_std = std;
  const double residual = 1.0 / std::sqrt(2.0 * static_cast<double>(c.layers));  // GPT-2's residual scaling
  tok_emb_ = Parameter("tok_emb", normal<S>(rng, c.vocab, d, 0.02));
  pos_emb_ = Parameter("pos_emb", normal<S>(rng, c.context, d, 0.02));
  blocks_.reserve(static_cast<size_t>(c.layers));  // parameters() hands out pointers into the blocks
  for (Eigen::Index l = 0; l < c.layers; ++l) {
    const std::string p = "block" + std::to_string(l) + ".";
    Block b;
    b.ln1_gain = Parameter(p + "ln1_gain", constant<S>(d, 1.0));
    b.ln1_bias = Parameter(p + "ln1_bias", constant<S>(d, 0.0));
    b.w_q = Parameter(p + "W_Q", normal<S>(rng, d, qk, std));
    b.w_k = Parameter(p + "W_K", normal<S>(rng, d, qk, std));
    b.w_v = Parameter(p + "W_V", normal<S>(rng, d, v, std));
    if (has_learned_scale(c.scale))
      b.log_scale = Parameter(p + "scale", ad::MatrixOf<S>::Constant(1, 1, static_cast<S>(c.scale.rule().initial_log_scale(static_cast<double>(c.d_k)))));
    b.w_o = Parameter(p + "W_O", normal<S>(rng, v, d, residual / std::sqrt(static_cast<double>(v))));
    b.b_o = Parameter(p + "b_O", constant<S>(d, 0.0));
    b.ln2_gain = Parameter(p + "ln2_gain", constant<S>(d, 1.0));
    b.ln2_bias = Parameter(p + "ln2_bias", constant<S>(d, 0.0));
    b.w_1 = Parameter(p + "W_1", normal<S>(rng, d, mlp, std));
    b.b_1 = Parameter(p + "b_1", constant<S>(mlp, 0.0));
    b.w_2 = Parameter(p + "W_2", normal<S>(rng, mlp, d, residual / std::sqrt(static_cast<double>(mlp))));
    b.b_2 = Parameter(p + "b_2", constant<S>(d, 0.0));
    blocks_.push_back(std::move(b));
  }
  lnf_gain_ = Parameter("lnf_gain", constant<S>(d, 1.0));
  lnf_bias_ = Parameter("lnf_bias", constant<S>(d, 0.0));
}

template <class S>
std::vector<ad::ParameterOf<S>*> LmOf<S>::parameters() {
  std::vector<Parameter*> all = {&tok_emb_, &pos_emb_};
  const bool learned = has_learned_scale(config_.scale);
  for (Block& b : blocks_) {
    for (Parameter* p : {&b.ln1_gain, &b.ln1_bias, &b.w_q, &b.w_k, &b.w_v}) all.push_back(p);
    if (learned) all.push_back(&b.log_scale);
    for (Parameter* p : {&b.w_o, &b.b_o, &b.ln2_gain, &b.ln2_bias, &b.w_1, &b.b_1, &b.w_2, &b.b_2}) all.push_back(p);
  }
  all.push_back(&lnf_gain_);
  all.push_back(&lnf_bias_);
  return all;
}

template <class S>
ad::ParameterOf<S>* LmOf<S>::find(const std::string& name) {
  for (Parameter* p : parameters())
    if (p->name == name) return p;
  return nullptr;
}

template <class S>
LmForwardOf<S> LmOf<S>::forward(Tape& tape, const std::vector<int>& tokens, const std::vector<int>& targets,
                                 Eigen::Index batch) {
  std::vector<Var> weights;
  for (Parameter* p : parameters()) weights.push_back(tape.parameter(*p));
  return apply(weights, tokens, targets, batch);
}

template <class S>
LmForwardOf<S> LmOf<S>::apply(const std::vector<Var>& w, const std::vector<int>& tokens, const std::vector<int>& targets,
                               Eigen::Index batch) {
  const LmConfig& c = config_;
  const Eigen::Index rows = static_cast<Eigen::Index>(tokens.size());
  if (batch <= 0 || rows % batch != 0 || rows / batch > c.context || targets.size() != tokens.size())
    throw std::invalid_argument("language model: " + std::to_string(rows) + " tokens are not " + std::to_string(batch) +
                                " sequences of at most " + std::to_string(c.context) + " (with as many targets)");
  const Eigen::Index n = rows / batch;
  positions_.resize(tokens.size());
  for (Eigen::Index r = 0; r < rows; ++r) positions_[static_cast<size_t>(r)] = static_cast<int>(r % n);
  size_t next = 0;
  auto take = [&] { return w.at(next++); };
  const Var tok_emb = take(), pos_emb = take();
  Var x = ad::add(ad::gather_rows(tok_emb, tokens), ad::gather_rows(pos_emb, positions_));
  const ScaleRule& rule = c.scale.rule();
  const bool learned = has_learned_scale(c.scale);
  LmForwardOf<S> out;
  for (Eigen::Index l = 0; l < c.layers; ++l) {
    const Var ln1_gain = take(), ln1_bias = take(), w_q = take(), w_k = take(), w_v = take();
    const Var log_scale = learned ? take() : Var();
    const Var w_o = take(), b_o = take(), ln2_gain = take(), ln2_bias = take(), w_1 = take(), b_1 = take(), w_2 = take(),
              b_2 = take();
    // Causal self-attention, heads as row blocks (head i, sequence b) of n rows.
    const Var h = ad::layer_norm_rows(x, ln1_gain, ln1_bias);
    Var q = ad::matmul(h, w_q), k = ad::matmul(h, w_k), v = ad::matmul(h, w_v);
    if (c.heads > 1) {
      q = ad::split_heads(q, c.heads);
      k = ad::split_heads(k, c.heads);
      v = ad::split_heads(v, c.heads);
    }
    if (rule.normalise_qk) {
      q = ad::l2_normalize_rows(q);
      k = ad::l2_normalize_rows(k);
    }
    const Eigen::Index blocks = c.heads * batch;
    Var z = learned ? ad::attention(q, k, v, blocks, ad::exp(log_scale), ad::AttentionMask::Causal)
                    : ad::attention(q, k, v, blocks, rule.fixed_factor(static_cast<double>(c.d_k)), ad::AttentionMask::Causal);
    out.attention.push_back(z);
    if (c.heads > 1) z = ad::merge_heads(z, c.heads);
    x = ad::add(x, ad::add(ad::matmul(z, w_o), b_o));
    // MLP.
    const Var h2 = ad::layer_norm_rows(x, ln2_gain, ln2_bias);
    x = ad::add(x, ad::add(ad::matmul(ad::gelu(ad::add(ad::matmul(h2, w_1), b_1)), w_2), b_2));
  }
  const Var lnf_gain = take(), lnf_bias = take();
  if (next != w.size()) throw std::invalid_argument("language model: more weights than parameters");
  // The output projection is the token embedding's transpose (tied weights).
  out.logits = ad::matmul(ad::layer_norm_rows(x, lnf_gain, lnf_bias), ad::transpose(tok_emb));
  out.loss = ad::cross_entropy(out.logits, targets);
  return out;
}

template class LmOf<double>;
template class LmOf<float>;

}  // namespace models
