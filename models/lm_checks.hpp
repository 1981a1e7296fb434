#pragma once
// The language model's gradient check, as models/model_checks.hpp is the attention layer's: a small model in
// one scale mode, with weights moved away from their initial values, checked against central differences in
// float64 (the tests run it for every scale mode; each lm run runs it for its own before training).
#include <cstdint>

#include "autodiff/gradcheck.hpp"
#include "models/lm.hpp"

namespace models {

// The sizes: V 7, n 5, d_model 6, 2 heads of d_k 4 and d_v 5 (W^Q 6×8, W^V 6×10, W^O 10×6: no weight square), MLP
// width 9, 2 blocks, 2 sequences.
LmConfig small_lm(ScaleMode scale);

// Checks the loss (loss = true) or the logits against every weight; `seed` draws the weights and the tokens.
ad::GradcheckReport gradcheck_small_lm(ScaleMode scale, uint64_t seed, bool loss = true);

}  // namespace models
