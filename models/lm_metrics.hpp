#pragma once
// What the language model's runs log per block, read from the fused attention op's state (ad::attention_tiles)
// after backward: Wortsman et al.'s early warning (the largest attention logit), the attention entropy (Zhai et
// al.'s entropy collapse), the share of saturated rows and the gradient that passes the softmax.
#include <vector>

#include "autodiff/ops.hpp"

namespace models {

struct BlockAttentionMetrics {
  double logit_max_abs = 0.0;       // largest |S| over the entries a query sees (S scaled, before the mask)
  double attn_entropy = 0.0;        // mean over query rows (all heads) of −Σ p ln p, nats
  double saturated_fraction = 0.0;  // share of rows whose largest weight exceeds 0.99 (first rows see one key:
                                    // they count, as every causal model has them)
  double logit_grad_median = 0.0;   // median over rows of ‖∂L/∂S_row‖ (NaN before a backward pass)
  double logit_grad_mean = 0.0;     // their mean
  double attn_max = 0.0;            // mean over rows of the largest weight
  // For a standard deviation over several blocks: the visible logits' count, sum and sum of squares.
  double visible = 0.0, logit_sum = 0.0, logit_sum_sq = 0.0;
};

// Measures one node made by ad::attention (any mask, any number of blocks). `scratch` is left holding each
// row's ‖∂L/∂S_row‖ (in some order), for a median over several blocks.
template <class S>
BlockAttentionMetrics measure_block(ad::VarOf<S> attention, std::vector<double>& scratch);
// The same per head, for a node whose rows are `heads` head-major blocks (ad::split_heads' layout): head h's
// metrics over rows h·R .. (h+1)·R−1, R = rows/heads, into out[h].
template <class S>
void measure_heads(ad::VarOf<S> attention, Eigen::Index heads, std::vector<double>& scratch,
                   std::vector<BlockAttentionMetrics>& out);

}  // namespace models
