#pragma once
// Gradient checks of whole models, like the op table for ops: every model form and scale mode is listed
// once, and the tests, `sandbox gradcheck` and each training run (on a small version of its own
// configuration) check them against central differences.
#include <string>
#include <vector>

#include "autodiff/gradcheck.hpp"
#include "models/attention.hpp"

namespace models {

struct ModelCheck {
  std::string name;
  AttentionConfig config;
  bool cross = false;  // cross-attention: queries from one sequence, keys and values from another
  Eigen::Index batch = 2, n_query = 3, n_key = 3;
};

// Self- and cross-attention in every scale mode, with and without W^O, with and without a causal mask,
// with one head and with 2 or 3, on small non-square shapes whose sizes are pairwise distinct.
const std::vector<ModelCheck>& model_checks();

// A small check of a configuration: same scale, mask and W^O presence, small distinct sizes.
ModelCheck small_version(const AttentionConfig& config, bool cross = false);

// Checks the output Ŷ against every weight and the input(s).
ad::GradcheckReport gradcheck_model(const ModelCheck& check, uint64_t seed);

}  // namespace models
