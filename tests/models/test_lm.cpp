// Tests of the language model (models/lm.*, models/lm_metrics.*): the whole model's gradient against central
// differences in every scale mode, in float64 on small non-square distinct sizes; causality (a later token
// changes no earlier logit); the float model starts from the double one's weights; the block metrics.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "autodiff/gradcheck.hpp"
#include "models/lm.hpp"
#include "models/lm_checks.hpp"
#include "models/lm_metrics.hpp"

namespace {

using models::LmConfig;

LmConfig small(models::ScaleMode scale) { return models::small_lm(scale); }

const std::vector<int> kTokens = {3, 0, 6, 6, 1, 2, 5, 3, 0, 4};   // two sequences of 5
const std::vector<int> kTargets = {0, 6, 6, 1, -1, 5, 3, 0, 4, 2};  // next tokens; one row not scored

class LmGradcheck : public ::testing::TestWithParam<size_t> {};

// The logits and the loss against every weight, on two seeds of weights and tokens.
TEST_P(LmGradcheck, WholeModelMatchesCentralDifferences) {
  const models::ScaleMode scale = models::scale_modes()[GetParam()];
  for (const uint64_t seed : {41u, 42u})
    for (const bool loss : {false, true}) {
      const ad::GradcheckReport report = models::gradcheck_small_lm(scale, seed, loss);
      const std::string what = models::scale_name(scale) + (loss ? " loss" : " logits") + " seed " + std::to_string(seed);
      EXPECT_TRUE(report.passed) << what << ": " << report.describe();
      EXPECT_TRUE(report.finite) << what;
      EXPECT_TRUE(report.repeatable) << what;
      EXPECT_TRUE(report.accumulates) << what;
      EXPECT_TRUE(report.zero_seed_gives_zero) << what;
    }
}

INSTANTIATE_TEST_SUITE_P(EveryScale, LmGradcheck, ::testing::Range<size_t>(0, models::scale_modes().size()),
                         [](const auto& info) { return models::scale_name(models::scale_modes()[info.param]); });

// Changing the last token of a sequence changes no logit at an earlier position of it (the causal mask), and
// changes the other sequence's logits not at all.
TEST(Lm, LaterTokensDoNotReachEarlierLogits) {
  ad::Rng rng(3);
  models::Lm model(small(models::ScaleMode::Sqrt), rng);
  ad::Tape tape;
  const ad::Matrix before = model.forward(tape, kTokens, kTargets, 2).logits.value();
  std::vector<int> changed = kTokens;
  changed[4] = 5;
  tape.reset();
  const ad::Matrix after = model.forward(tape, changed, kTargets, 2).logits.value();
  EXPECT_EQ(before.topRows(4), after.topRows(4));
  EXPECT_EQ(before.bottomRows(5), after.bottomRows(5));
  EXPECT_GT((before.row(4) - after.row(4)).norm(), 1e-6);
}

// The float model starts from the double model's weights of the same seed, rounded once, and its loss is the
// double one's within float rounding.
TEST(Lm, FloatModelStartsFromTheDoubleWeights) {
  ad::Rng rng_d(9), rng_f(9);
  models::Lm model_d(small(models::ScaleMode::QkNorm), rng_d);
  models::LmF model_f(small(models::ScaleMode::QkNorm), rng_f);
  const auto pd = model_d.parameters();
  const auto pf = model_f.parameters();
  ASSERT_EQ(pd.size(), pf.size());
  for (size_t i = 0; i < pd.size(); ++i) EXPECT_EQ(pd[i]->value.cast<float>(), pf[i]->value) << pd[i]->name;
  ad::Tape tape_d;
  ad::TapeF tape_f;
  const double loss_d = model_d.forward(tape_d, kTokens, kTargets, 2).loss.value()(0, 0);
  const double loss_f = model_f.forward(tape_f, kTokens, kTargets, 2).loss.value()(0, 0);
  EXPECT_NEAR(loss_f, loss_d, 1e-5 * loss_d);
  // At initialisation the output is close to uniform over the vocabulary: the loss is near ln V.
  EXPECT_NEAR(loss_d, std::log(7.0), 0.3);
}

// The block metrics against values computed here from the op's state: entropy of uniform attention over the
// visible keys when every logit is equal (zero queries), and the causal row count in the saturated share.
TEST(Lm, BlockMetricsReadTheAttentionState) {
  ad::Tape tape;
  const Eigen::Index n = 4;
  const ad::Var q = tape.constant(ad::Matrix::Zero(2 * n, 3)), k = tape.constant(ad::Matrix::Random(2 * n, 3));
  const ad::Var v = tape.constant(ad::Matrix::Random(2 * n, 5));
  const ad::Var z = ad::attention(q, k, v, 2, 1.0, ad::AttentionMask::Causal);
  std::vector<double> scratch;
  const models::BlockAttentionMetrics m = models::measure_block(z, scratch);
  // Row i of a block sees i + 1 keys with equal weight: entropy ln(i + 1); only row 0 is saturated.
  EXPECT_NEAR(m.attn_entropy, (std::log(1.0) + std::log(2.0) + std::log(3.0) + std::log(4.0)) / 4.0, 1e-12);
  EXPECT_DOUBLE_EQ(m.saturated_fraction, 0.25);
  EXPECT_DOUBLE_EQ(m.logit_max_abs, 0.0);
  EXPECT_TRUE(std::isnan(m.logit_grad_median));  // no backward yet
}

// Per head (blocks as heads, head-major): head 0 attends uniformly (zero queries), head 1 puts its weight on key
// 0 with logit 40 (every query is 40·e₀, key 0 is e₀ and the others are orthogonal to it).
TEST(Lm, HeadMetricsSplitTheRows) {
  ad::Tape tape;
  const Eigen::Index n = 4;
  ad::Matrix q = ad::Matrix::Zero(2 * n, 3), k(2 * n, 3);
  k.topRows(n).setRandom();
  k.bottomRows(n) << 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0;
  q.bottomRows(n).col(0).setConstant(40.0);
  const ad::Var z = ad::attention(tape.constant(q), tape.constant(k), tape.constant(ad::Matrix::Random(2 * n, 5)), 2, 1.0,
                                  ad::AttentionMask::Causal);
  std::vector<double> scratch;
  std::vector<models::BlockAttentionMetrics> heads;
  models::measure_heads(z, 2, scratch, heads);
  ASSERT_EQ(heads.size(), 2u);
  EXPECT_NEAR(heads[0].attn_entropy, (std::log(2.0) + std::log(3.0) + std::log(4.0)) / 4.0, 1e-12);
  EXPECT_DOUBLE_EQ(heads[0].saturated_fraction, 0.25);
  EXPECT_DOUBLE_EQ(heads[0].logit_max_abs, 0.0);
  EXPECT_LT(heads[1].attn_entropy, 1e-12);
  EXPECT_DOUBLE_EQ(heads[1].saturated_fraction, 1.0);
  EXPECT_DOUBLE_EQ(heads[1].logit_max_abs, 40.0);
  // The block as a whole is their mean (equal row counts).
  const models::BlockAttentionMetrics all = models::measure_block(z, scratch);
  EXPECT_NEAR(all.attn_entropy, 0.5 * (heads[0].attn_entropy + heads[1].attn_entropy), 1e-12);
  EXPECT_DOUBLE_EQ(all.logit_max_abs, 40.0);
}

}  // namespace
