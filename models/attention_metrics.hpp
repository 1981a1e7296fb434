#pragma once
// What the study measures on one forward/backward pass, read from the attention's nodes after backward.
#include <vector>

#include "models/attention.hpp"

namespace models {

struct AttentionMetrics {
  double logit_grad_mean = 0.0;    // mean over query rows of ‖∂L/∂S_row‖: the gradient that passes the softmax
  double logit_grad_median = 0.0;  // its median: robust to the few near-tie rows that dominate the mean
  double saturated_fraction = 0.0; // share of rows whose largest attention weight exceeds 0.99
  double attn_entropy = 0.0;       // mean over rows of −Σ p ln p (nats)
  double attn_max = 0.0;           // mean over rows of the largest weight
  double logit_std = 0.0;          // standard deviation of the scaled logits S over the entries a query sees
};

// Keeps a buffer for the median between calls, so that measuring allocates nothing once warmed up.
class AttentionMeter {
 public:
  AttentionMetrics measure(const AttentionNodes& nodes, const ad::BoolMatrix* hidden = nullptr);

 private:
  std::vector<double> row_norms_;
};

double median_in_place(std::vector<double>& values);  // reorders values

}  // namespace models
