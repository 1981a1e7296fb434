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
};

// Keeps a buffer for the median between calls, so that measuring allocates nothing once warmed up.
class AttentionMeter {
 public:
  // `hidden`: the causal mask, if any (hidden logits are left out of logit_std). `labels`: for
  // classification, the rows with a label ≥ 0 are the ones the logit-gradient statistics cover.
  AttentionMetrics measure(const AttentionNodes& nodes, const ad::BoolMatrix* hidden = nullptr,
                           const std::vector<int>* labels = nullptr);

 private:
  std::vector<double> row_norms_;
};

double median_in_place(std::vector<double>& values);  // reorders values

}  // namespace models
