#pragma once
// What the study measures on one forward/backward pass, read from the attention's nodes after backward.
#include <vector>

#include "models/attention.hpp"

namespace models {

struct AttentionMetrics {
  // ‖∂L/∂S_row‖ over the query rows that reach the loss (every row for regression; the labelled rows for
  // classification, since the other rows get no gradient at all): the gradient that passes the softmax.
  double logit_grad_mean = 0.0;
  double logit_grad_median = 0.0;  // its median: robust to the few near-tie rows that dominate the mean
  double saturated_fraction = 0.0; // share of rows whose largest attention weight exceeds 0.99
  double attn_entropy = 0.0;       // mean over rows of −Σ p ln p (nats)
  double attn_max = 0.0;           // mean over rows of the largest weight
  double logit_std = 0.0;          // standard deviation of the scaled logits S over the entries a query sees
  double logit_max_abs = 0.0;      // largest |S| over the entries a query sees
  // ‖∂L/∂q‖ of each head's query vector q (a d_k-wide slice of a row of Q = X W^Q, before any QK-norm),
  // over the rows that reach the loss: unlike ∂L/∂S it lives in the space the weights move in, so it
  // compares across scale modes.
  double q_grad_mean = 0.0;
  double q_grad_median = 0.0;
  // Over the rows that reach the loss (the rows of logit_grad): the share whose ‖∂L/∂S_row‖ is exactly zero,
  // and the share whose largest weight is exactly 1 in the run's precision. They tell rounding from vanishing:
  // in float32 a top weight rounds to 1 long before the row's gradient underflows to 0.
  double logit_grad_zero_fraction = 0.0;
  double top_weight_one_fraction = 0.0;
  // Per head (empty with one head): saturated fraction and entropy over that head's rows only.
  std::vector<double> saturated_fraction_head, attn_entropy_head;
};

// Keeps a buffer for the median between calls, so that measuring allocates nothing once warmed up.
// Measures the nodes of either precision (compiled for float and double); the metrics are double either way.
class AttentionMeter {
 public:
  // `hidden`: the causal mask, if any (hidden logits are left out of logit_std). `labels`: for
  // classification, the rows with a label ≥ 0 are the ones the logit-gradient statistics cover.
  // The number of heads is read from the nodes (rows of A over rows of Q); nodes without `queries` (hand-
  // built ones) count as one head with no query gradients.
  template <class S>
  AttentionMetrics measure(const AttentionNodesOf<S>& nodes, const ad::BoolMatrix* hidden = nullptr,
                           const std::vector<int>* labels = nullptr);
  // The same, written into `m`, whose per-head vectors keep their storage: no allocation once warmed up.
  template <class S>
  void measure_into(AttentionMetrics& m, const AttentionNodesOf<S>& nodes, const ad::BoolMatrix* hidden = nullptr,
                    const std::vector<int>* labels = nullptr);

 private:
  std::vector<double> row_norms_, q_norms_, row_top_, row_entropy_, row_grad_norm_;
};

double median_in_place(std::vector<double>& values);  // reorders values

// The root mean square of after − before over the entries no mask hides (`hidden` may be null): how far one
// update moved the scaled logits S on the same batch. NaN when the shapes differ.
template <class S>
double visible_rms_change(const ad::MatrixOf<S>& after, const ad::MatrixOf<S>& before, const ad::BoolMatrix* hidden);
inline double visible_rms_change(const Matrix& after, const Matrix& before, const ad::BoolMatrix* hidden) {
  return visible_rms_change<double>(after, before, hidden);
}

}  // namespace models
