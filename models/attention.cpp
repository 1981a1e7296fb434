#include "models/attention.hpp"

#include <cmath>
#include <stdexcept>

namespace models {

Attention::Attention(const AttentionConfig& config, ad::Rng& rng) : config_(config) {
  if (config.d_model <= 0 || config.d_k <= 0 || config.d_v <= 0 || config.heads <= 0 || config.d_out < 0)
    throw std::invalid_argument("attention sizes must be positive");
  const Eigen::Index qk_width = config.heads * config.d_k, v_width = config.heads * config.d_v;
  const double std = config.init_std > 0 ? config.init_std : 1.0 / std::sqrt(static_cast<double>(config.d_model));
  config_.init_std = std;
  w_q_ = ad::Parameter("W_Q", ad::random_normal(rng, config.d_model, qk_width, std));
  w_k_ = ad::Parameter("W_K", ad::random_normal(rng, config.d_model, qk_width, std));
  w_v_ = ad::Parameter("W_V", ad::random_normal(rng, config.d_model, v_width, std));
  if (config.d_out > 0) {
    // W^O maps Z (h·d_v wide) to the output; 1/√(h·d_v) keeps the output at the scale of Z.
    w_o_ = ad::Parameter("W_O", ad::random_normal(rng, v_width, config.d_out, 1.0 / std::sqrt(static_cast<double>(v_width))));
  }
  if (has_learned_scale(config.scale)) log_scale_ = ad::Parameter("scale", Matrix::Constant(1, 1, initial_log_scale()));
}

double Attention::initial_log_scale() const {
  return config_.scale.rule().initial_log_scale(static_cast<double>(config_.d_k));
}

std::vector<ad::Parameter*> Attention::parameters() {
  std::vector<ad::Parameter*> all = {&w_q_, &w_k_, &w_v_};
  if (config_.d_out > 0) all.push_back(&w_o_);
  if (has_learned_scale(config_.scale)) all.push_back(&log_scale_);
  return all;
}

ad::Parameter* Attention::find(const std::string& name) {
  for (ad::Parameter* p : parameters())
    if (p->name == name) return p;
  return nullptr;
}

const ad::BoolMatrix& Attention::causal_mask(Eigen::Index batch, Eigen::Index n_query, Eigen::Index n_key) {
  if (mask_.rows() != batch * n_query || mask_.cols() != n_key) {
    mask_.resize(batch * n_query, n_key);
    for (Eigen::Index r = 0; r < mask_.rows(); ++r)
      for (Eigen::Index j = 0; j < n_key; ++j) mask_(r, j) = j > r % n_query;  // query i sees keys j ≤ i
  }
  return mask_;
}

AttentionNodes Attention::forward(ad::Tape& tape, ad::Var x, Eigen::Index batch) {
  return forward(tape, x, x, batch);
}

AttentionWeights Attention::bind(ad::Tape& tape) {
  AttentionWeights w{tape.parameter(w_q_), tape.parameter(w_k_), tape.parameter(w_v_), {}, {}};
  if (config_.d_out > 0) w.w_o = tape.parameter(w_o_);
  if (has_learned_scale(config_.scale)) w.log_scale = tape.parameter(log_scale_);
  return w;
}

AttentionNodes Attention::forward(ad::Tape& tape, ad::Var x_query, ad::Var x_context, Eigen::Index batch) {
  const AttentionWeights w = bind(tape);
  return apply(tape, w, x_query, x_context, batch);
}

AttentionNodes Attention::apply(ad::Tape&, const AttentionWeights& w, ad::Var x_query, ad::Var x_context,
                                Eigen::Index batch) {
  return compute(w, x_query, x_context, batch, false);
}

AttentionNodes Attention::logits_only(ad::Tape& tape, ad::Var x_query, ad::Var x_context, Eigen::Index batch) {
  return compute(bind(tape), x_query, x_context, batch, true);
}

AttentionNodes Attention::compute(const AttentionWeights& w, ad::Var x_query, ad::Var x_context, Eigen::Index batch,
                                  bool logits_only) {
  const ad::Var queries = ad::matmul(x_query, w.w_q);
  ad::Var q = queries;
  ad::Var k = ad::matmul(x_context, w.w_k);
  ad::Var v;  // (the tape keeps this order: the backward sums into X in it)
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
  const ad::Var logits = scale.fixed_factor != nullptr
                             ? ad::batched_scores(q, k, blocks, scale.fixed_factor(static_cast<double>(config_.d_k)))
                             : ad::scale_by(ad::batched_scores(q, k, blocks), ad::exp(w.log_scale));
  if (logits_only) return {queries, logits, {}, {}};
  ad::Var masked = config_.causal ? ad::mask(logits, causal_mask(blocks, q.rows() / blocks, k.rows() / blocks)) : logits;
  ad::Var weights = ad::softmax_rows(masked);
  ad::Var z = ad::batched_weighted_sum(weights, v, blocks);
  if (heads > 1) z = ad::merge_heads(z, heads);
  ad::Var output = config_.d_out > 0 ? ad::matmul(z, w.w_o) : z;
  return {queries, logits, weights, output};
}

}  // namespace models
