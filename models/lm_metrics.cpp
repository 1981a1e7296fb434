#include "models/lm_metrics.hpp"

#include <cmath>
#include <limits>

#include "models/attention_metrics.hpp"

namespace models {

namespace {

// The metrics over rows first .. first+rows−1 of the op's logits and weights.
template <class S>
BlockAttentionMetrics measure_rows(const ad::AttentionState<S>& st, Eigen::Index first, Eigen::Index rows,
                                   std::vector<double>& scratch) {
  const auto& logits = st.logits;
  const auto& weights = st.weights;
  const Eigen::Index n = logits.rows() / st.batch;
  BlockAttentionMetrics m;
  double entropy = 0.0, saturated = 0.0, tops = 0.0, grads = 0.0;
  scratch.clear();
  for (Eigen::Index r = first; r < first + rows; ++r) {
    const Eigen::Index seen = st.causal ? r % n + 1 : logits.cols();
    double top = 0.0, h = 0.0, grad = 0.0;
    for (Eigen::Index j = 0; j < seen; ++j) {
      const double s = logits(r, j);
      m.logit_max_abs = std::max(m.logit_max_abs, std::abs(s));
      m.logit_sum += s;
      m.logit_sum_sq += s * s;
      const double p = weights(r, j);
      top = std::max(top, p);
      if (p > 0) h -= p * std::log(p);
      if (st.has_logit_grad) grad += static_cast<double>(st.logit_grad(r, j)) * static_cast<double>(st.logit_grad(r, j));
    }
    m.visible += static_cast<double>(seen);
    entropy += h;
    tops += top;
    saturated += top > 0.99 ? 1.0 : 0.0;
    scratch.push_back(std::sqrt(grad));
    grads += std::sqrt(grad);
  }
  m.attn_max = tops / static_cast<double>(rows);
  m.logit_grad_mean = st.has_logit_grad ? grads / static_cast<double>(rows) : std::numeric_limits<double>::quiet_NaN();
  m.attn_entropy = entropy / static_cast<double>(rows);
  m.saturated_fraction = saturated / static_cast<double>(rows);
  m.logit_grad_median = st.has_logit_grad ? median_in_place(scratch) : std::numeric_limits<double>::quiet_NaN();
  return m;
}

}  // namespace

template <class S>
BlockAttentionMetrics measure_block(ad::VarOf<S> attention, std::vector<double>& scratch) {
  const ad::AttentionState<S>& st = ad::attention_tiles(attention);
  return measure_rows(st, 0, st.logits.rows(), scratch);
}

template <class S>
void measure_heads(ad::VarOf<S> attention, Eigen::Index heads, std::vector<double>& scratch,
                   std::vector<BlockAttentionMetrics>& out) {
  const ad::AttentionState<S>& st = ad::attention_tiles(attention);
  const Eigen::Index rows = st.logits.rows() / heads;
  out.resize(static_cast<size_t>(heads));
  for (Eigen::Index h = 0; h < heads; ++h) out[static_cast<size_t>(h)] = measure_rows(st, h * rows, rows, scratch);
}

template BlockAttentionMetrics measure_block(ad::VarOf<double>, std::vector<double>&);
template BlockAttentionMetrics measure_block(ad::VarOf<float>, std::vector<double>&);
template void measure_heads(ad::VarOf<double>, Eigen::Index, std::vector<double>&, std::vector<BlockAttentionMetrics>&);
template void measure_heads(ad::VarOf<float>, Eigen::Index, std::vector<double>&, std::vector<BlockAttentionMetrics>&);

}  // namespace models
