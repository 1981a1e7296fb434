#include "models/attention_metrics.hpp"

#include <algorithm>
#include <cmath>

namespace models {

double median_in_place(std::vector<double>& values) {
  if (values.empty()) return 0.0;
  const size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid), values.end());
  const double upper = values[mid];
  if (values.size() % 2 == 1) return upper;
  const double lower = *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid));
  return 0.5 * (lower + upper);
}

// Standard deviation of the visible logits (those no mask hides). Two passes around the mean (the
// one-pass E[x²] − E[x]² cancels catastrophically for large logits), on values divided by the largest
// magnitude so that neither the sum nor the squares can overflow.
static double visible_std(const Matrix& s, const ad::BoolMatrix* hidden) {
  auto visible = [&](Eigen::Index r, Eigen::Index c) { return !hidden || !(*hidden)(r, c); };
  double largest = 0.0, seen = 0.0;
  for (Eigen::Index c = 0; c < s.cols(); ++c)
    for (Eigen::Index r = 0; r < s.rows(); ++r)
      if (visible(r, c)) {
        largest = std::max(largest, std::abs(s(r, c)));
        seen += 1.0;
      }
  if (!(largest > 0.0) || !std::isfinite(largest)) return largest > 0.0 ? largest : 0.0;  // all zero, or inf/NaN
  double mean = 0.0;
  for (Eigen::Index c = 0; c < s.cols(); ++c)
    for (Eigen::Index r = 0; r < s.rows(); ++r)
      if (visible(r, c)) mean += s(r, c) / largest;
  mean /= seen;
  double sum_sq = 0.0;
  for (Eigen::Index c = 0; c < s.cols(); ++c)
    for (Eigen::Index r = 0; r < s.rows(); ++r)
      if (visible(r, c)) sum_sq += (s(r, c) / largest - mean) * (s(r, c) / largest - mean);
  return largest * std::sqrt(sum_sq / seen);
}

AttentionMetrics AttentionMeter::measure(const AttentionNodes& nodes, const ad::BoolMatrix* hidden,
                                         const std::vector<int>* labels) {
  AttentionMetrics m;
  measure_into(m, nodes, hidden, labels);
  return m;
}

static double visible_max_abs(const Matrix& s, const ad::BoolMatrix* hidden) {
  double largest = 0.0;
  for (Eigen::Index c = 0; c < s.cols(); ++c)
    for (Eigen::Index r = 0; r < s.rows(); ++r)
      if (!hidden || !(*hidden)(r, c)) largest = std::max(largest, std::abs(s(r, c)));
  return largest;
}

double visible_rms_change(const Matrix& after, const Matrix& before, const ad::BoolMatrix* hidden) {
  if (after.rows() != before.rows() || after.cols() != before.cols()) return std::nan("");
  double sum_sq = 0.0, seen = 0.0;
  for (Eigen::Index c = 0; c < after.cols(); ++c)
    for (Eigen::Index r = 0; r < after.rows(); ++r)
      if (!hidden || !(*hidden)(r, c)) {
        const double d = after(r, c) - before(r, c);
        sum_sq += d * d;
        seen += 1.0;
      }
  return seen > 0.0 ? std::sqrt(sum_sq / seen) : 0.0;
}

static double mean_of(const std::vector<double>& values) {
  double total = 0.0;
  for (double v : values) total += v;
  return values.empty() ? 0.0 : total / static_cast<double>(values.size());
}

void AttentionMeter::measure_into(AttentionMetrics& m, const AttentionNodes& nodes, const ad::BoolMatrix* hidden,
                                  const std::vector<int>* labels) {
  const Matrix& ds = nodes.logits.grad();
  const Matrix& a = nodes.weights.value();
  const Eigen::Index rows = a.rows();
  const bool has_queries = nodes.queries.tape() != nullptr;
  // Rows of S and A are head-major: head i owns rows i·R .. i·R+R−1, R = B·n_query, and row r is query
  // row r mod R, whose label says whether it reaches the loss.
  const Eigen::Index heads = has_queries && nodes.queries.rows() > 0 ? std::max<Eigen::Index>(1, rows / nodes.queries.rows()) : 1;
  const Eigen::Index per_head = rows / heads;
  auto reaches_loss = [labels, per_head](Eigen::Index r) { return !labels || (*labels)[static_cast<size_t>(r % per_head)] >= 0; };
  m.attn_max = m.saturated_fraction = m.attn_entropy = 0.0;
  m.saturated_fraction_head.assign(heads > 1 ? static_cast<size_t>(heads) : 0, 0.0);
  m.attn_entropy_head.assign(heads > 1 ? static_cast<size_t>(heads) : 0, 0.0);
  row_norms_.clear();  // keeps its capacity
  for (Eigen::Index r = 0; r < rows; ++r) {
    // blueNorm: finite for finite entries, where the plain sum of squares overflows past ~1e154.
    if (reaches_loss(r)) row_norms_.push_back(ds.row(r).blueNorm());
    const double top = a.row(r).maxCoeff();
    double entropy = 0.0;
    for (Eigen::Index c = 0; c < a.cols(); ++c) {
      const double p = a(r, c);
      if (p > 0.0) entropy -= p * std::log(p);
    }
    const double saturated = top > 0.99 ? 1.0 : 0.0;
    m.attn_max += top;
    m.saturated_fraction += saturated;
    m.attn_entropy += entropy;
    if (heads > 1) {
      m.saturated_fraction_head[static_cast<size_t>(r / per_head)] += saturated / static_cast<double>(per_head);
      m.attn_entropy_head[static_cast<size_t>(r / per_head)] += entropy / static_cast<double>(per_head);
    }
  }
  const double n = static_cast<double>(rows);
  m.attn_max /= n;
  m.saturated_fraction /= n;
  m.attn_entropy /= n;
  m.logit_grad_mean = mean_of(row_norms_);
  m.logit_grad_median = median_in_place(row_norms_);
  m.logit_std = visible_std(nodes.logits.value(), hidden);
  m.logit_max_abs = visible_max_abs(nodes.logits.value(), hidden);

  q_norms_.clear();
  if (has_queries) {
    const Matrix& dq = nodes.queries.grad();
    const Eigen::Index d_k = dq.cols() / heads;
    for (Eigen::Index r = 0; r < dq.rows(); ++r)
      if (reaches_loss(r))
        for (Eigen::Index h = 0; h < heads; ++h) q_norms_.push_back(dq.row(r).segment(h * d_k, d_k).blueNorm());
  }
  m.q_grad_mean = mean_of(q_norms_);
  m.q_grad_median = median_in_place(q_norms_);
}

}  // namespace models
