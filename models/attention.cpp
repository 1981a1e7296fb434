#include "models/attention.hpp"

#include <cmath>
#include <stdexcept>
#include <type_traits>

namespace models {

namespace {

// The initial weights are drawn in double (the same draws for either precision) and rounded once.
template <class S>
ad::MatrixOf<S> initial(ad::Rng& rng, Eigen::Index rows, Eigen::Index cols, double std) {
  if constexpr (std::is_same_v<S, double>) return ad::random_normal(rng, rows, cols, std);
  else return ad::random_normal(rng, rows, cols, std).template cast<S>();
}

}  // namespace

template <class S>
AttentionOf<S>::AttentionOf(const AttentionConfig& config, ad::Rng& rng) : config_(config) {
  if (config.d_model <= 0 || config.d_k <= 0 || config.d_v <= 0 || config.heads <= 0 || config.d_out < 0)
    throw std::invalid_argument("attention sizes must be positive");
  const Eigen::Index qk_width = config.heads * config.d_k, v_width = config.heads * config.d_v;
  const double std = config.init_std > 0 ? config.init_std : 1.0 / std::sqrt(static_cast<double>(config.d_model));
  config_.init_std = std;
  w_q_ = Parameter("W_Q", initial<S>(rng, config.d_model, qk_width, std));
  w_k_ = Parameter("W_K", initial<S>(rng, config.d_model, qk_width, std));
  w_v_ = Parameter("W_V", initial<S>(rng, config.d_model, v_width, std));
  if (config.d_out > 0) {
    // W^O maps Z (h·d_v wide) to the output; 1/√(h·d_v) keeps the output at the scale of Z.
    w_o_ = Parameter("W_O", initial<S>(rng, v_width, config.d_out, 1.0 / std::sqrt(static_cast<double>(v_width))));
  }
  if (has_learned_scale(config.scale))
    log_scale_ = Parameter("scale", ad::MatrixOf<S>::Constant(1, 1, static_cast<S>(initial_log_scale())));
}

template <class S>
double AttentionOf<S>::initial_log_scale() const {
  return config_.scale.rule().initial_log_scale(static_cast<double>(config_.d_k));
}

template <class S>
std::vector<ad::ParameterOf<S>*> AttentionOf<S>::parameters() {
  std::vector<Parameter*> all = {&w_q_, &w_k_, &w_v_};
  if (config_.d_out > 0) all.push_back(&w_o_);
  if (has_learned_scale(config_.scale)) all.push_back(&log_scale_);
  return all;
}

template <class S>
ad::ParameterOf<S>* AttentionOf<S>::find(const std::string& name) {
  for (Parameter* p : parameters())
    if (p->name == name) return p;
  return nullptr;
}

template <class S>
const ad::BoolMatrix& AttentionOf<S>::causal_mask(Eigen::Index batch, Eigen::Index n_query, Eigen::Index n_key) {
  if (mask_.rows() != batch * n_query || mask_.cols() != n_key) {
    mask_.resize(batch * n_query, n_key);
    for (Eigen::Index r = 0; r < mask_.rows(); ++r)
      for (Eigen::Index j = 0; j < n_key; ++j) mask_(r, j) = j > r % n_query;  // query i sees keys j ≤ i
  }
  return mask_;
}

template <class S>
AttentionNodesOf<S> AttentionOf<S>::forward(Tape& tape, Var x, Eigen::Index batch) {
  return forward(tape, x, x, batch);
}

template <class S>
AttentionWeightsOf<S> AttentionOf<S>::bind(Tape& tape) {
  Weights w{tape.parameter(w_q_), tape.parameter(w_k_), tape.parameter(w_v_), {}, {}};
  if (config_.d_out > 0) w.w_o = tape.parameter(w_o_);
  if (has_learned_scale(config_.scale)) w.log_scale = tape.parameter(log_scale_);
  return w;
}

template <class S>
AttentionNodesOf<S> AttentionOf<S>::forward(Tape& tape, Var x_query, Var x_context, Eigen::Index batch) {
  const Weights w = bind(tape);
  return apply(tape, w, x_query, x_context, batch);
}

template <class S>
AttentionNodesOf<S> AttentionOf<S>::apply(Tape&, const Weights& w, Var x_query, Var x_context, Eigen::Index batch) {
  return compute(w, x_query, x_context, batch, false);
}

template <class S>
AttentionNodesOf<S> AttentionOf<S>::logits_only(Tape& tape, Var x_query, Var x_context, Eigen::Index batch) {
  return compute(bind(tape), x_query, x_context, batch, true);
}

template <class S>
AttentionNodesOf<S> AttentionOf<S>::compute(const Weights& w, Var x_query, Var x_context, Eigen::Index batch,
                                            bool logits_only) {
  const Var queries = ad::matmul(x_query, w.w_q);
  Var q = queries;
  Var k = ad::matmul(x_context, w.w_k);
  Var v;  // (the tape keeps this order: the backward sums into X in it)
  if (!logits_only) v = ad::matmul(x_context, w.w_v);
  // Heads become row blocks: the batched ops below then treat h·B blocks (one head skips the moves, so
  // its tape is the single-head one).
  const Eigen::Index heads = config_.heads;
  if (heads > 1) {
    q = ad::split_heads(q, heads);
    k = ad::split_heads(k, heads);
    if (!logits_only) v = ad::split_heads(v, heads);
  }
  const Eigen::Index blocks = heads * batch;
  const ScaleRule& scale = config_.scale.rule();
  if (scale.normalise_qk) {
    q = ad::l2_normalize_rows(q);
    k = ad::l2_normalize_rows(k);
  }
  // Fixed scales are folded into the score products (no extra pass over S); learned ones multiply S.
  const Var logits = scale.fixed_factor != nullptr
                             ? ad::batched_scores(q, k, blocks, scale.fixed_factor(static_cast<double>(config_.d_k)))
                             : ad::scale_by(ad::batched_scores(q, k, blocks), ad::exp(w.log_scale));
  if (logits_only) return {queries, logits, {}, {}};
  Var masked = config_.causal ? ad::mask(logits, causal_mask(blocks, q.rows() / blocks, k.rows() / blocks)) : logits;
  Var weights = ad::softmax_rows(masked);
  Var z = ad::batched_weighted_sum(weights, v, blocks);
  if (heads > 1) z = ad::merge_heads(z, heads);
  Var output = config_.d_out > 0 ? ad::matmul(z, w.w_o) : z;
  return {queries, logits, weights, output};
}

template class AttentionOf<double>;
template class AttentionOf<float>;

}  // namespace models
