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

AttentionMetrics AttentionMeter::measure(const AttentionNodes& nodes, const ad::BoolMatrix* hidden,
                                         const std::vector<int>* labels) {
  const Matrix& s = nodes.logits.value();
  const Matrix& ds = nodes.logits.grad();
  const Matrix& a = nodes.weights.value();
  const Eigen::Index rows = a.rows();
  AttentionMetrics m;
  row_norms_.clear();  // keeps its capacity
  double seen = 0.0, sum = 0.0, sum_sq = 0.0;
  for (Eigen::Index r = 0; r < rows; ++r) {
    if (!labels || (*labels)[static_cast<size_t>(r)] >= 0) row_norms_.push_back(ds.row(r).norm());
    const double top = a.row(r).maxCoeff();
    m.attn_max += top;
    m.saturated_fraction += top > 0.99 ? 1.0 : 0.0;
    double entropy = 0.0;
    for (Eigen::Index c = 0; c < a.cols(); ++c) {
      const double p = a(r, c);
      if (p > 0.0) entropy -= p * std::log(p);
      if (hidden && (*hidden)(r, c)) continue;
      seen += 1.0;
      sum += s(r, c);
      sum_sq += s(r, c) * s(r, c);
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
  const double mean = sum / seen;
  m.logit_std = std::sqrt(std::max(0.0, sum_sq / seen - mean * mean));
  return m;
}

}  // namespace models
