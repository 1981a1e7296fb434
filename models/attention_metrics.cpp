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
  const Matrix& ds = nodes.logits.grad();
  const Matrix& a = nodes.weights.value();
  const Eigen::Index rows = a.rows();
  AttentionMetrics m;
  row_norms_.clear();  // keeps its capacity
  for (Eigen::Index r = 0; r < rows; ++r) {
    // blueNorm: finite for finite entries, where the plain sum of squares overflows past ~1e154.
    if (!labels || (*labels)[static_cast<size_t>(r)] >= 0) row_norms_.push_back(ds.row(r).blueNorm());
    const double top = a.row(r).maxCoeff();
    m.attn_max += top;
    m.saturated_fraction += top > 0.99 ? 1.0 : 0.0;
    double entropy = 0.0;
    for (Eigen::Index c = 0; c < a.cols(); ++c) {
      const double p = a(r, c);
      if (p > 0.0) entropy -= p * std::log(p);
    }
    m.attn_entropy += entropy;
  }
  const double n = static_cast<double>(rows);
  m.attn_max /= n;
  m.saturated_fraction /= n;
  m.attn_entropy /= n;
  double total = 0.0;
  for (double v : row_norms_) total += v;
  m.logit_grad_mean = row_norms_.empty() ? 0.0 : total / static_cast<double>(row_norms_.size());
  m.logit_grad_median = median_in_place(row_norms_);
  m.logit_std = visible_std(nodes.logits.value(), hidden);
  return m;
}

}  // namespace models
