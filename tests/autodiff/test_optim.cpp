// Optimizer steps, learning-rate schedules and gradient clipping against values computed by hand: every
// expected number below is written out from the update formula (scalar by scalar), never by calling the
// optimizer under test.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>

#include "autodiff/optim.hpp"
#include "experiments/src/bench/alloc_counter.hpp"

namespace {

using ad::Matrix;

Matrix row(double a, double b) { return (Matrix(1, 2) << a, b).finished(); }

// ------------------------------------------------------------------------------------------------- SGD

TEST(Optim, SgdWithMomentumMatchesHandComputedSteps) {
  ad::Parameter p("p", row(1.0, -2.0));
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

// Momentum 0 is plain SGD: the second step depends on the second gradient only, not on the first.
TEST(Optim, SgdWithZeroMomentumIsPlainSgd) {
  ad::Parameter p("p", row(1.0, -2.0));
  ad::Sgd sgd(0.1, 0.0);
  p.grad << 0.5, 1.0;
  sgd.step({&p});
  p.grad << -1.0, 2.0;
  sgd.step({&p});
  EXPECT_NEAR(p.value(0, 0), 1.0 - 0.1 * 0.5 + 0.1 * 1.0, 1e-15);
  EXPECT_NEAR(p.value(0, 1), -2.0 - 0.1 * 1.0 - 0.1 * 2.0, 1e-15);
}

// Coupled L2: wd·p joins the gradient before the momentum buffer.
TEST(Optim, SgdWeightDecayIsAddedToTheGradient) {
  const double lr = 0.1, mu = 0.5, wd = 0.2;
  ad::Parameter p("p", row(1.0, -2.0));
  ad::Sgd sgd(lr, mu, wd);
  p.grad << 0.5, 1.0;
  sgd.step({&p});
  // g' = (0.5 + 0.2·1, 1 + 0.2·(−2)) = (0.7, 0.6); v = g'; p = (1 − 0.07, −2 − 0.06)
  EXPECT_NEAR(p.value(0, 0), 0.93, 1e-15);
  EXPECT_NEAR(p.value(0, 1), -2.06, 1e-15);
  p.grad << -1.0, 2.0;
  sgd.step({&p});
  // g' = (−1 + 0.2·0.93, 2 + 0.2·(−2.06)) = (−0.814, 1.588); v = 0.5·(0.7, 0.6) + g' = (−0.464, 1.888)
  EXPECT_NEAR(p.value(0, 0), 0.93 + 0.0464, 1e-15);
  EXPECT_NEAR(p.value(0, 1), -2.06 - 0.1888, 1e-15);
}

// ------------------------------------------------------------------------------------------------ Adam

TEST(Optim, AdamMatchesHandComputedSteps) {
  ad::Parameter p("p", row(1.0, -2.0));
  ad::Adam adam(0.01, {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8});
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

// Non-default β1, β2 and a large ε change the update exactly as the formula says (three steps, one entry).
TEST(Optim, AdamBetasAndEpsEnterTheUpdateAsTheFormulaSays) {
  const double lr = 0.1, b1 = 0.5, b2 = 0.75, eps = 0.1;
  ad::Parameter p("p", Matrix::Constant(2, 1, 1.0));
  ad::Adam adam(lr, {.beta1 = b1, .beta2 = b2, .eps = eps});
  const double g[3] = {2.0, -1.0, 0.5};
  // Step 1: m = 0.5·2 = 1, v = 0.25·4 = 1; m̂ = 1/0.5 = 2, v̂ = 1/0.25 = 4; p = 1 − 0.1·2/(2 + 0.1)
  // Step 2: m = 0.5·1 + 0.5·(−1) = 0, so m̂ = 0 and p does not move.
  // Step 3: m = 0.5·0 + 0.5·0.5 = 0.25, v = 0.75·(0.75·1 + 0.25·1) + 0.25·0.25 = 0.8125;
  //         m̂ = 0.25/(1 − 0.125) = 2/7, v̂ = 0.8125/(1 − 0.421875) = 1.40540540…
  const double p1 = 1.0 - 0.1 * 2.0 / 2.1;
  const double p3 = p1 - 0.1 * (0.25 / 0.875) / (std::sqrt(0.8125 / 0.578125) + 0.1);
  const double expected[3] = {p1, p1, p3};
  for (int t = 0; t < 3; ++t) {
    p.grad.setConstant(g[t]);
    adam.step({&p});
    EXPECT_NEAR(p.value(1, 0), expected[t], 1e-15) << "after step " << t + 1;
  }
}

// Coupled L2 in Adam: the moments see g + wd·p.
TEST(Optim, AdamWeightDecayIsCoupledL2) {
  const double lr = 0.1, wd = 0.5, eps = 1e-8;
  ad::Parameter p("p", row(2.0, 1.0));
  ad::Adam adam(lr, {.beta1 = 0.9, .beta2 = 0.999, .eps = eps, .weight_decay = wd});
  p.grad << 0.0, -1.0;
  adam.step({&p});
  // t = 1: g' = (0 + 0.5·2, −1 + 0.5·1) = (1, −0.5); step = lr·g'/(|g'| + ε)
  const double a1 = 2.0 - lr * 1.0 / (1.0 + eps);
  const double b1 = 1.0 + lr * 0.5 / (0.5 + eps);
  EXPECT_NEAR(p.value(0, 0), a1, 1e-15);
  EXPECT_NEAR(p.value(0, 1), b1, 1e-15);
  p.grad << 0.0, -1.0;
  adam.step({&p});
  // t = 2, first entry: g' = 0.5·a1
  const double g2 = 0.5 * a1;
  const double m = 0.9 * 0.1 * 1.0 + 0.1 * g2, v = 0.999 * 0.001 * 1.0 + 0.001 * g2 * g2;
  EXPECT_NEAR(p.value(0, 0), a1 - lr * (m / 0.19) / (std::sqrt(v / (1 - 0.998001)) + eps), 1e-15);
}

// AdamW: p ← p·(1 − lr·wd) first, then Adam from the raw gradient.
TEST(Optim, AdamWDecaysTheWeightsDecoupledFromTheGradient) {
  const double lr = 0.1, wd = 0.5, eps = 1e-8;
  ad::Parameter p("p", row(2.0, 1.0));
  ad::AdamW adamw(lr, {.eps = eps, .weight_decay = wd});
  p.grad << 0.0, -1.0;
  adamw.step({&p});
  // First entry: g = 0, so the Adam term is 0/(0 + ε) = 0 and only the decay acts: 2·(1 − 0.05) = 1.9.
  // Second: 1·0.95 + lr·1/(1 + ε).
  EXPECT_NEAR(p.value(0, 0), 1.9, 1e-15);
  EXPECT_NEAR(p.value(0, 1), 0.95 + lr / (1.0 + eps), 1e-15);
  p.grad << 3.0, -1.0;
  adamw.step({&p});
  // t = 2, first entry: m = 0.1·3, v = 0.001·9; decay from 1.9.
  const double m = 0.3, v = 0.009;
  EXPECT_NEAR(p.value(0, 0), 1.9 * 0.95 - lr * (m / 0.19) / (std::sqrt(v / (1 - 0.998001)) + eps), 1e-15);
}

// Where the gradient is zero, Adam + L2 moves p by about lr (its normalised step of wd·p), AdamW by lr·wd·p.
TEST(Optim, AdamWAndAdamWithL2DifferAsExpected) {
  const double lr = 0.1, wd = 0.01;
  ad::Parameter coupled("c", row(2.0, -4.0)), decoupled("d", row(2.0, -4.0));
  ad::Adam adam(lr, {.weight_decay = wd});
  ad::AdamW adamw(lr, {.weight_decay = wd});
  coupled.grad.setZero();
  decoupled.grad.setZero();
  adam.step({&coupled});
  adamw.step({&decoupled});
  EXPECT_NEAR(coupled.value(0, 0), 2.0 - lr * 0.02 / (0.02 + 1e-8), 1e-15);   // ≈ 1.9
  EXPECT_NEAR(coupled.value(0, 1), -4.0 + lr * 0.04 / (0.04 + 1e-8), 1e-15);  // ≈ −3.9
  EXPECT_NEAR(decoupled.value(0, 0), 2.0 - lr * wd * 2.0, 1e-15);             // 1.998
  EXPECT_NEAR(decoupled.value(0, 1), -4.0 + lr * wd * 4.0, 1e-15);            // −3.996
}

TEST(Optim, AdamWWithoutWeightDecayIsAdam) {
  ad::Parameter a("a", row(1.0, -2.0)), b("b", row(1.0, -2.0));
  ad::Adam adam(0.05);
  ad::AdamW adamw(0.05);
  for (double g : {0.3, -1.2, 0.7}) {
    a.grad.setConstant(g);
    b.grad.setConstant(g);
    adam.step({&a});
    adamw.step({&b});
  }
  EXPECT_EQ(a.value, b.value);
}

// -------------------------------------------------------------------- learning rate and its multipliers

// A schedule sets the lr before each step; lr() reports what the step used.
TEST(Optim, TheLearningRateCanChangeEveryStep) {
  ad::Parameter p("p", row(1.0, -2.0));
  ad::Sgd sgd(0.1);
  p.grad << 1.0, 2.0;
  sgd.step({&p});
  EXPECT_EQ(sgd.lr(), 0.1);
  sgd.set_lr(0.5);
  sgd.step({&p});
  EXPECT_EQ(sgd.lr(), 0.5);
  EXPECT_NEAR(p.value(0, 0), 1.0 - 0.1 - 0.5, 1e-15);
  EXPECT_NEAR(p.value(0, 1), -2.0 - 0.2 - 1.0, 1e-15);
  EXPECT_THROW(sgd.set_lr(-1.0), std::invalid_argument);
  EXPECT_THROW(sgd.set_lr(std::numeric_limits<double>::quiet_NaN()), std::invalid_argument);
}

// A multiplier on one parameter scales that parameter's lr only (SGD: the step; AdamW: the step and the decay).
TEST(Optim, ALearningRateMultiplierAppliesToItsParameterOnly) {
  const double lr = 0.1;
  ad::Parameter q("W_Q", row(1.0, -2.0)), v("W_V", row(1.0, -2.0));
  ad::Sgd sgd(lr);
  sgd.set_lr_multiplier(q, 3.0);
  EXPECT_EQ(sgd.lr_multiplier(q), 3.0);
  EXPECT_EQ(sgd.lr_multiplier(v), 1.0);
  q.grad << 1.0, 2.0;
  v.grad << 1.0, 2.0;
  sgd.step({&q, &v});
  EXPECT_NEAR(q.value(0, 0), 1.0 - 0.3, 1e-15);
  EXPECT_NEAR(q.value(0, 1), -2.0 - 0.6, 1e-15);
  EXPECT_NEAR(v.value(0, 0), 1.0 - 0.1, 1e-15);
  EXPECT_NEAR(v.value(0, 1), -2.0 - 0.2, 1e-15);

  const double wd = 0.5, eps = 1e-8;
  ad::Parameter k("W_K", row(2.0, 1.0)), o("W_O", row(2.0, 1.0));
  ad::AdamW adamw(lr, {.eps = eps, .weight_decay = wd});
  adamw.set_lr_multiplier(k, 2.0);
  k.grad << 0.0, -1.0;
  o.grad << 0.0, -1.0;
  adamw.step({&o, &k});
  // W_K at lr 0.2: decay 2·(1 − 0.2·0.5) = 1.8; 1·0.9 + 0.2·1/(1 + ε). W_O at lr 0.1.
  EXPECT_NEAR(k.value(0, 0), 1.8, 1e-15);
  EXPECT_NEAR(k.value(0, 1), 0.9 + 0.2 / (1.0 + eps), 1e-15);
  EXPECT_NEAR(o.value(0, 0), 1.9, 1e-15);
  EXPECT_NEAR(o.value(0, 1), 0.95 + 0.1 / (1.0 + eps), 1e-15);
  EXPECT_EQ(adamw.lr(), lr);  // lr() is the base rate, the multiplier is per parameter
}

// ----------------------------------------------------------------------------------------- schedules

TEST(Schedule, LinearWarmupThenConstant) {
  const ad::LrSchedule s{.lr = 0.8, .kind = ad::Schedule::Constant, .warmup_steps = 4, .steps = 20};
  EXPECT_DOUBLE_EQ(ad::scheduled_lr(s, 0), 0.2);
  EXPECT_DOUBLE_EQ(ad::scheduled_lr(s, 1), 0.4);
  EXPECT_DOUBLE_EQ(ad::scheduled_lr(s, 2), 0.6);
  EXPECT_DOUBLE_EQ(ad::scheduled_lr(s, 3), 0.8);
  EXPECT_DOUBLE_EQ(ad::scheduled_lr(s, 4), 0.8);
  EXPECT_DOUBLE_EQ(ad::scheduled_lr(s, 19), 0.8);
  const ad::LrSchedule none{.lr = 0.8, .steps = 20};
  EXPECT_EQ(ad::scheduled_lr(none, 0), 0.8);
}

TEST(Schedule, CosineFromLrAfterWarmupToMinLrAtTheLastStep) {
  // warmup 2, then 9 cosine steps t = 2..10 over a span of 8.
  const ad::LrSchedule s{.lr = 1.0, .kind = ad::Schedule::Cosine, .warmup_steps = 2, .min_lr = 0.1, .steps = 11};
  EXPECT_DOUBLE_EQ(ad::scheduled_lr(s, 0), 0.5);
  EXPECT_DOUBLE_EQ(ad::scheduled_lr(s, 1), 1.0);
  EXPECT_DOUBLE_EQ(ad::scheduled_lr(s, 2), 1.0);
  EXPECT_NEAR(ad::scheduled_lr(s, 4), 0.1 + 0.9 * (1 + std::sqrt(0.5)) / 2, 1e-15);  // s = 1/4: cos = √½
  EXPECT_NEAR(ad::scheduled_lr(s, 6), 0.55, 1e-15);                                   // s = 1/2: cos = 0
  EXPECT_NEAR(ad::scheduled_lr(s, 8), 0.1 + 0.9 * (1 - std::sqrt(0.5)) / 2, 1e-15);
  EXPECT_NEAR(ad::scheduled_lr(s, 10), 0.1, 1e-15);
  EXPECT_EQ(ad::scheduled_lr(s, 11), 0.1);  // past the end
  // No warmup: lr at t = 0.
  const ad::LrSchedule cold{.lr = 2.0, .kind = ad::Schedule::Cosine, .min_lr = 0.0, .steps = 3};
  EXPECT_DOUBLE_EQ(ad::scheduled_lr(cold, 0), 2.0);
  EXPECT_NEAR(ad::scheduled_lr(cold, 1), 1.0, 1e-15);
  EXPECT_NEAR(ad::scheduled_lr(cold, 2), 0.0, 1e-15);
  // A cosine phase of a single step (warmup = steps − 1) uses lr.
  const ad::LrSchedule one{.lr = 2.0, .kind = ad::Schedule::Cosine, .warmup_steps = 2, .min_lr = 0.5, .steps = 3};
  EXPECT_DOUBLE_EQ(ad::scheduled_lr(one, 0), 1.0);
  EXPECT_DOUBLE_EQ(ad::scheduled_lr(one, 1), 2.0);
  EXPECT_EQ(ad::scheduled_lr(one, 2), 2.0);
}

TEST(Schedule, BadSettingsAndNamesThrow) {
  EXPECT_THROW(ad::scheduled_lr({.lr = -1.0}, 0), std::invalid_argument);
  EXPECT_THROW(ad::scheduled_lr({.lr = 1.0, .min_lr = -0.1}, 0), std::invalid_argument);
  EXPECT_THROW(ad::scheduled_lr({.lr = 1.0, .warmup_steps = -1}, 0), std::invalid_argument);
  EXPECT_THROW(ad::scheduled_lr({.lr = 1.0, .steps = 0}, 0), std::invalid_argument);
  EXPECT_THROW(ad::scheduled_lr({.lr = 1.0}, -1), std::invalid_argument);
  EXPECT_EQ(ad::schedule_from_name("cosine"), ad::Schedule::Cosine);
  EXPECT_EQ(ad::schedule_from_name("constant"), ad::Schedule::Constant);
  EXPECT_STREQ(ad::schedule_name(ad::Schedule::Cosine), "cosine");
  EXPECT_THROW(ad::schedule_from_name("linear"), std::invalid_argument);
}

// ------------------------------------------------------------------------------------------- clipping

// Two parameters whose gradients form the vector (3, 0, 0, 4): global norm 5.
struct TwoGradients {
  ad::Parameter a{"a", Matrix::Zero(1, 2)}, b{"b", Matrix::Zero(2, 1)};
  TwoGradients() {
    a.grad << 3.0, 0.0;
    b.grad << 0.0, 4.0;
  }
  std::vector<ad::Parameter*> list() { return {&a, &b}; }
};

TEST(ClipGradNorm, ScalesTheGlobalNormExactlyToMaxNorm) {
  TwoGradients g;
  EXPECT_EQ(ad::clip_grad_norm(g.list(), 2.0), 5.0);
  // Factor 2/5 = 0.4 on every gradient.
  EXPECT_NEAR(g.a.grad(0, 0), 1.2, 1e-15);
  EXPECT_EQ(g.a.grad(0, 1), 0.0);
  EXPECT_EQ(g.b.grad(0, 0), 0.0);
  EXPECT_NEAR(g.b.grad(1, 0), 1.6, 1e-15);
  EXPECT_NEAR(std::hypot(g.a.grad.norm(), g.b.grad.norm()), 2.0, 1e-15);
}

TEST(ClipGradNorm, LeavesSmallerGradientsAloneAndIsOffForMaxNormZero) {
  for (double max_norm : {10.0, 5.02, 5.0, 0.0, -1.0}) {  // never scaled up, not even near N
    TwoGradients g;
    EXPECT_EQ(ad::clip_grad_norm(g.list(), max_norm), 5.0);
    EXPECT_EQ(g.a.grad, row(3.0, 0.0)) << "max_norm " << max_norm;
    EXPECT_EQ(g.b.grad(1, 0), 4.0) << "max_norm " << max_norm;
  }
}

TEST(ClipGradNorm, HugeGradientsDoNotOverflowAndNonFiniteOnesAreLeftAlone) {
  TwoGradients g;
  g.a.grad *= 1e300;
  g.b.grad *= 1e300;
  EXPECT_NEAR(ad::clip_grad_norm(g.list(), 1.0), 5e300, 1e286);
  EXPECT_NEAR(g.a.grad(0, 0), 0.6, 1e-15);
  EXPECT_NEAR(g.b.grad(1, 0), 0.8, 1e-15);

  TwoGradients bad;
  bad.a.grad(0, 1) = std::numeric_limits<double>::infinity();
  EXPECT_FALSE(std::isfinite(ad::clip_grad_norm(bad.list(), 1.0)));
  EXPECT_EQ(bad.b.grad(1, 0), 4.0);
}

// ----------------------------------------------------------------------------------------- contracts

TEST(Optim, OptimizersLeaveTheGradientsAsTheyWere) {
  ad::Parameter p("p", Matrix::Ones(2, 3));
  p.grad.setConstant(0.25);
  ad::Adam adam(0.1, {.weight_decay = 0.5});
  ad::Sgd sgd(0.1, 0.9, 0.5);
  adam.step({&p});
  sgd.step({&p});
  EXPECT_EQ(p.grad, Matrix::Constant(2, 3, 0.25));
}

// Hyperparameters that PyTorch rejects are rejected here too, by the constructor.
TEST(Optim, BadHyperparametersThrow) {
  EXPECT_THROW(ad::Sgd(-0.1), std::invalid_argument);
  EXPECT_THROW(ad::Sgd(0.1, -0.5), std::invalid_argument);
  EXPECT_THROW(ad::Sgd(0.1, 0.9, -1e-4), std::invalid_argument);
  EXPECT_THROW(ad::Adam(0.1, {.beta1 = 1.0}), std::invalid_argument);
  EXPECT_THROW(ad::Adam(0.1, {.beta2 = -0.1}), std::invalid_argument);
  EXPECT_THROW(ad::Adam(0.1, {.eps = -1e-8}), std::invalid_argument);
  EXPECT_THROW(ad::AdamW(0.1, {.weight_decay = -0.01}), std::invalid_argument);
  ad::Parameter p("p", Matrix::Ones(1, 1));
  ad::Sgd sgd(0.1);
  EXPECT_THROW(sgd.set_lr_multiplier(p, -2.0), std::invalid_argument);
}

TEST(Optim, TheParameterListMayNotChangeBetweenSteps) {
  ad::Parameter a("a", Matrix::Ones(1, 2)), b("b", Matrix::Ones(2, 1));
  ad::Adam adam(0.1);
  adam.step({&a, &b});
  EXPECT_THROW(adam.step({&a}), std::logic_error);
}

// State is sized on the first step; every later step, with every setting on, allocates nothing.
TEST(Optim, StepsAfterTheFirstAllocateNothing) {
  ad::Parameter a("a", Matrix::Constant(3, 5, 0.5)), b("b", Matrix::Constant(4, 2, -0.5));
  a.grad.setConstant(0.1);
  b.grad.setConstant(-0.2);
  const std::vector<ad::Parameter*> params{&a, &b};
  ad::Sgd sgd(0.1, 0.9, 0.01);
  ad::Adam adam(0.1, {.beta1 = 0.8, .weight_decay = 0.01});
  ad::AdamW adamw(0.1, {.weight_decay = 0.01});
  std::vector<ad::Optimizer*> optimizers{&sgd, &adam, &adamw};
  for (ad::Optimizer* o : optimizers) o->set_lr_multiplier(a, 2.0);
  for (ad::Optimizer* o : optimizers) o->step(params);
  const ad::LrSchedule schedule{.lr = 0.1, .kind = ad::Schedule::Cosine, .warmup_steps = 2, .steps = 10};
  const auto before = sbx::bench::heap_allocations();
  for (long t = 1; t < 10; ++t) {
    ad::clip_grad_norm(params, 0.05);
    for (ad::Optimizer* o : optimizers) {
      o->set_lr(ad::scheduled_lr(schedule, t));
      o->step(params);
    }
  }
  EXPECT_EQ(sbx::bench::heap_allocations() - before, 0u);
}

}  // namespace
