// Optimizer steps against steps computed by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "autodiff/optim.hpp"

namespace {

using ad::Matrix;

TEST(Optim, SgdWithMomentumMatchesHandComputedSteps) {
  ad::Parameter p("p", (Matrix(1, 2) << 1.0, -2.0).finished());
  ad::Sgd sgd(0.1, 0.9);
  p.grad << 0.5, 1.0;
  sgd.step({&p});
  // v = g = (0.5, 1); p = (1 − 0.05, −2 − 0.1)
  EXPECT_DOUBLE_EQ(p.value(0, 0), 0.95);
  EXPECT_DOUBLE_EQ(p.value(0, 1), -2.1);
  p.grad << -1.0, 2.0;
  sgd.step({&p});
  // v = 0.9·(0.5, 1) + (−1, 2) = (−0.55, 2.9); p = (0.95 + 0.055, −2.1 − 0.29)
  EXPECT_NEAR(p.value(0, 0), 1.005, 1e-15);
  EXPECT_NEAR(p.value(0, 1), -2.39, 1e-15);
}

TEST(Optim, AdamMatchesHandComputedSteps) {
  ad::Parameter p("p", (Matrix(1, 2) << 1.0, -2.0).finished());
  ad::Adam adam(0.01, 0.9, 0.999, 1e-8);
  p.grad << 0.5, -3.0;
  adam.step({&p});
  // t = 1: m̂ = g, v̂ = g², so the step is lr·g/(|g| + ε) ≈ lr·sign(g).
  EXPECT_NEAR(p.value(0, 0), 1.0 - 0.01 * 0.5 / (0.5 + 1e-8), 1e-15);
  EXPECT_NEAR(p.value(0, 1), -2.0 + 0.01 * 3.0 / (3.0 + 1e-8), 1e-15);
  const Matrix after_one = p.value;
  p.grad << 1.5, 1.0;
  adam.step({&p});
  // t = 2, by hand for the first entry.
  const double m = 0.9 * (0.1 * 0.5) + 0.1 * 1.5;
  const double v = 0.999 * (0.001 * 0.25) + 0.001 * 2.25;
  const double mhat = m / (1 - 0.81), vhat = v / (1 - 0.998001);
  EXPECT_NEAR(p.value(0, 0), after_one(0, 0) - 0.01 * mhat / (std::sqrt(vhat) + 1e-8), 1e-15);
  EXPECT_EQ(adam.steps_taken(), 2);
}

TEST(Optim, OptimizersDoNotZeroGradients) {
  ad::Parameter p("p", Matrix::Ones(2, 3));
  p.grad.setConstant(0.25);
  ad::Adam adam(0.1);
  adam.step({&p});
  EXPECT_EQ(p.grad(1, 2), 0.25);
}

}  // namespace
