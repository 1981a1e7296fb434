#pragma once
// Central-difference gradient checking of anything built on the tape.
//
// The function under test maps input matrices to an output Y of any shape. It is reduced to a scalar by a
// probe L = Σ R ⊙ Y with a fixed random R: never a plain sum, because softmax rows sum to 1 and the gradient
// of their sum vanishes whatever the backward does. The analytic gradient is one backward pass seeded with
// R; the numeric one moves each input entry by ±h, h = 1e-6·max(1, |x|).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "autodiff/tape.hpp"

namespace ad {

using BuildFn = std::function<Var(Tape&, const std::vector<Var>&)>;

struct GradcheckOptions {
  double abs_tolerance = 1e-8;  // an entry passes when |analytic − numeric| ≤ abs + rel·|numeric|
  double rel_tolerance = 1e-6;
  uint64_t probe_seed = 12345;
};

struct GradcheckReport {
  bool passed = true;
  // The worst entry of the worst input, judged by error relative to its tolerance.
  int worst_input = -1;
  Eigen::Index worst_row = -1, worst_col = -1;
  double worst_analytic = 0.0, worst_numeric = 0.0;
  double max_abs_error = 0.0;     // largest |analytic − numeric| over every entry of every input
  double worst_ratio = 0.0;       // largest error / tolerance; passes when ≤ 1
  bool repeatable = true;         // a second backward pass gave bit-identical gradients
  bool zero_seed_gives_zero = true;
  bool accumulates = true;        // building the function twice on the same inputs doubles the gradients
  bool finite = true;             // outputs and gradients are finite where the output is
  std::string describe() const;   // one line naming the worst entry
};

GradcheckReport gradcheck(const BuildFn& build, const std::vector<Matrix>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace ad
