#include "models/attention_metrics.hpp"

#include <algorithm>
#include <cmath>

#include "autodiff/workers.hpp"

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

// The largest |s| over the visible entries, and how many are visible. Four independent running maxima: the
// result is the same as one running max in any order (max is exact; a NaN never replaces a number in
// std::max(running, x) with running ≥ 0), without waiting on each comparison in turn.
struct VisibleMax {
  double largest = 0.0, seen = 0.0;
};
template <class S>
static VisibleMax visible_max(const ad::MatrixOf<S>& s, const ad::BoolMatrix* hidden) {
  VisibleMax out;
  const S* v = s.data();
  const Eigen::Index size = s.size();
  if (!hidden) {
    double m[4] = {0.0, 0.0, 0.0, 0.0};
    Eigen::Index i = 0;
    for (; i + 4 <= size; i += 4)
      for (int j = 0; j < 4; ++j) m[j] = std::max(m[j], static_cast<double>(std::abs(v[i + j])));
    for (; i < size; ++i) m[0] = std::max(m[0], static_cast<double>(std::abs(v[i])));
    out.largest = std::max(std::max(m[0], m[1]), std::max(m[2], m[3]));
    out.seen = static_cast<double>(size);  // a count: exact, as the sum of ones it replaces
    return out;
  }
  long seen = 0;
  const bool* h = hidden->data();
  for (Eigen::Index i = 0; i < size; ++i)
    if (!h[i]) {
      out.largest = std::max(out.largest, static_cast<double>(std::abs(v[i])));
      ++seen;
    }
  out.seen = static_cast<double>(seen);
  return out;
}

// Standard deviation of the visible logits (those no mask hides). Two passes around the mean (the
// one-pass E[x²] − E[x]² cancels catastrophically for large logits), on values divided by the largest
// magnitude so that neither the sum nor the squares can overflow. (These loops are written as they were
// when the study's numbers were first logged: the compiler's choice of fused multiply-adds follows the
// source, and a rewrite moved one logged value by an ulp.)
template <class S>
static double visible_std(const ad::MatrixOf<S>& s, const ad::BoolMatrix* hidden, const VisibleMax& vm) {
  auto visible = [&](Eigen::Index r, Eigen::Index c) { return !hidden || !(*hidden)(r, c); };
  const double largest = vm.largest, seen = vm.seen;
  if (!(largest > 0.0) || !std::isfinite(largest)) return largest > 0.0 ? largest : 0.0;  // all zero, or inf/NaN
  double mean = 0.0;
  for (Eigen::Index c = 0; c < s.cols(); ++c)
    for (Eigen::Index r = 0; r < s.rows(); ++r)
      if (visible(r, c)) mean += static_cast<double>(s(r, c)) / largest;
  mean /= seen;
  double sum_sq = 0.0;
  for (Eigen::Index c = 0; c < s.cols(); ++c)
    for (Eigen::Index r = 0; r < s.rows(); ++r)
      if (visible(r, c))
        sum_sq += (static_cast<double>(s(r, c)) / largest - mean) * (static_cast<double>(s(r, c)) / largest - mean);
  return largest * std::sqrt(sum_sq / seen);
}

template <class S>
AttentionMetrics AttentionMeter::measure(const AttentionNodesOf<S>& nodes, const ad::BoolMatrix* hidden,
                                         const std::vector<int>* labels) {
  AttentionMetrics m;
  measure_into(m, nodes, hidden, labels);
  return m;
}

template <class S>
double visible_rms_change(const ad::MatrixOf<S>& after, const ad::MatrixOf<S>& before, const ad::BoolMatrix* hidden) {
  if (after.rows() != before.rows() || after.cols() != before.cols()) return std::nan("");
  double sum_sq = 0.0, seen = 0.0;
  for (Eigen::Index c = 0; c < after.cols(); ++c)
    for (Eigen::Index r = 0; r < after.rows(); ++r)
      if (!hidden || !(*hidden)(r, c)) {
        const double d = static_cast<double>(after(r, c)) - static_cast<double>(before(r, c));
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

template <class S>
void AttentionMeter::measure_into(AttentionMetrics& m, const AttentionNodesOf<S>& nodes, const ad::BoolMatrix* hidden,
                                  const std::vector<int>* labels) {
  const ad::MatrixOf<S>& ds = nodes.logits.grad();
  const ad::MatrixOf<S>& a = nodes.weights.value();
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
  // Each row's largest weight and entropy, accumulated column by column (contiguous in A, and the rows'
  // chains independent), in the same order within a row as a loop along the row: c = 0, 1, ….
  // With the tape's workers, rows are shared out: each row's numbers are computed as above by one thread,
  // and summed over rows below in row order, so they are the same bits for any number of threads.
  row_top_.assign(static_cast<size_t>(rows), 0.0);
  row_entropy_.assign(static_cast<size_t>(rows), 0.0);
  row_grad_norm_.assign(static_cast<size_t>(rows), 0.0);
  ad::Workers* workers = nodes.weights.tape() ? nodes.weights.tape()->workers() : nullptr;
  ad::parallel_ranges(workers, rows, ad::kRowGranule, static_cast<double>(a.size()), [&](Eigen::Index first, Eigen::Index count) {
    for (Eigen::Index c = 0; c < a.cols(); ++c) {
      const S* column = a.col(c).data();
      for (Eigen::Index r = first; r < first + count; ++r) {
        const double p = column[r];
        // A row's running max as Eigen's maxCoeff along the row keeps it: std::max(running, next).
        double& top = row_top_[static_cast<size_t>(r)];
        top = c == 0 ? p : std::max(top, p);
        if (p > 0.0) row_entropy_[static_cast<size_t>(r)] -= p * std::log(p);
      }
    }
    // blueNorm: finite for finite entries, where the plain sum of squares overflows past ~1e154.
    for (Eigen::Index r = first; r < first + count; ++r)
      if (reaches_loss(r)) row_grad_norm_[static_cast<size_t>(r)] = static_cast<double>(ds.row(r).blueNorm());
  });
  double zero_rows = 0.0, one_rows = 0.0;
  for (Eigen::Index r = 0; r < rows; ++r) {
    const double top = row_top_[static_cast<size_t>(r)];
    if (reaches_loss(r)) {
      row_norms_.push_back(row_grad_norm_[static_cast<size_t>(r)]);
      zero_rows += row_grad_norm_[static_cast<size_t>(r)] == 0.0 ? 1.0 : 0.0;
      one_rows += top == 1.0 ? 1.0 : 0.0;
    }
    const double entropy = row_entropy_[static_cast<size_t>(r)];
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
  const double scored = static_cast<double>(row_norms_.size());
  m.logit_grad_zero_fraction = scored > 0.0 ? zero_rows / scored : 0.0;
  m.top_weight_one_fraction = scored > 0.0 ? one_rows / scored : 0.0;
  m.logit_grad_mean = mean_of(row_norms_);
  m.logit_grad_median = median_in_place(row_norms_);
  const VisibleMax vm = visible_max(nodes.logits.value(), hidden);
  m.logit_std = visible_std(nodes.logits.value(), hidden, vm);
  m.logit_max_abs = vm.largest;

  q_norms_.clear();
  if (has_queries) {
    const ad::MatrixOf<S>& dq = nodes.queries.grad();
    const Eigen::Index d_k = dq.cols() / heads;
    for (Eigen::Index r = 0; r < dq.rows(); ++r)
      if (reaches_loss(r))
        for (Eigen::Index h = 0; h < heads; ++h)
          q_norms_.push_back(static_cast<double>(dq.row(r).segment(h * d_k, d_k).blueNorm()));
  }
  m.q_grad_mean = mean_of(q_norms_);
  m.q_grad_median = median_in_place(q_norms_);
}

template AttentionMetrics AttentionMeter::measure(const AttentionNodesOf<double>&, const ad::BoolMatrix*, const std::vector<int>*);
template AttentionMetrics AttentionMeter::measure(const AttentionNodesOf<float>&, const ad::BoolMatrix*, const std::vector<int>*);
template void AttentionMeter::measure_into(AttentionMetrics&, const AttentionNodesOf<double>&, const ad::BoolMatrix*,
                                           const std::vector<int>*);
template void AttentionMeter::measure_into(AttentionMetrics&, const AttentionNodesOf<float>&, const ad::BoolMatrix*,
                                           const std::vector<int>*);
template double visible_rms_change(const ad::Matrix&, const ad::Matrix&, const ad::BoolMatrix*);
template double visible_rms_change(const ad::MatrixF&, const ad::MatrixF&, const ad::BoolMatrix*);

}  // namespace models
