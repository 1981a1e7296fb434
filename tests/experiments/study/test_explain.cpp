// Tests of `sandbox explain`: the numbers of the seed texts' worked examples, as computed by the engine.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "experiments/src/study/explain.hpp"
#include "experiments/src/user_error.hpp"

namespace {

using namespace sbx::study;

// |x − reference| within half a unit of the last of `decimals` decimals: x rounds to reference.
void expect_rounds_to(double x, double reference, int decimals) {
  EXPECT_LT(std::abs(x - reference), 0.5 * std::pow(10.0, -decimals)) << x << " does not round to " << reference;
}

void expect_within_percent(double x, double reference, double percent) {
  EXPECT_LE(std::abs(x - reference), percent / 100.0 * std::abs(reference)) << x << " vs " << reference;
}

// ---- apple -----------------------------------------------------------------------------------------------

TEST(Explain, AppleCosinesAndWeights) {
  const AppleExample e = explain_apple();
  for (const AppleContext& c : e.contexts) {
    expect_rounds_to(c.cosine, 0.71, 2);
    EXPECT_NEAR(c.cosine, std::sqrt(0.5), 1e-15) << c.other_word;  // cos 45°
    EXPECT_NEAR(c.self_cosine, 1.0, 1e-15);
    EXPECT_EQ(c.cosine_rounded, 0.71);
    EXPECT_EQ(c.self_cosine_rounded, 1.0);
    // e^0.71 / (e^0.71 + e^1) from the rounded scores, as the text does
    EXPECT_NEAR(c.weights(0), std::exp(0.71) / (std::exp(0.71) + std::exp(1.0)), 1e-15);
    EXPECT_NEAR(c.weights.sum(), 1.0, 1e-15);
    EXPECT_NEAR((c.weighted_other + c.weighted_apple - c.adjusted).norm(), 0.0, 1e-15);
  }
}

TEST(Explain, AppleContextAdjustedVectorsMatchTheText) {
  const AppleExample e = explain_apple();
  ASSERT_EQ(e.contexts[0].other_word, "orange");
  expect_rounds_to(e.contexts[0].adjusted(0), 1.14, 2);
  expect_rounds_to(e.contexts[0].adjusted(1), 2.43, 2);
  ASSERT_EQ(e.contexts[1].other_word, "phone");
  expect_rounds_to(e.contexts[1].adjusted(0), 2.86, 2);
  expect_rounds_to(e.contexts[1].adjusted(1), 1.14, 2);
  // The text's result depends on its rounding of the cosine: unrounded, the first coordinate is 1.15.
  expect_rounds_to(e.contexts[0].adjusted_unrounded(0), 1.15, 2);
}

// ---- seq2seq ---------------------------------------------------------------------------------------------

TEST(Explain, Seq2SeqDegenerateContextIsTheLastStateExactly) {
  const Seq2SeqExample e = explain_seq2seq();
  const Eigen::RowVectorXd last = e.encoder_states.row(e.encoder_states.rows() - 1);
  EXPECT_TRUE(e.masked_context == last) << e.masked_context;  // bit for bit
  EXPECT_TRUE(e.manual_context == last) << e.manual_context;
  EXPECT_EQ(e.masked_weights(0), 0.0);
  EXPECT_EQ(e.masked_weights(1), 0.0);
  EXPECT_EQ(e.masked_weights(2), 1.0);
  EXPECT_TRUE(std::isinf(e.masked_scores(0)) && e.masked_scores(0) < 0);
}

TEST(Explain, Seq2SeqNormalContextIsTheWeightedSum) {
  const Seq2SeqExample e = explain_seq2seq();
  EXPECT_NEAR(e.weights.sum(), 1.0, 1e-15);
  EXPECT_NEAR((e.scores - e.decoder_state * e.encoder_states.transpose()).norm(), 0.0, 1e-15);
  Eigen::RowVectorXd sum = Eigen::RowVectorXd::Zero(e.encoder_states.cols());
  for (Eigen::Index i = 0; i < e.encoder_states.rows(); ++i) sum += e.weights(i) * e.encoder_states.row(i);
  EXPECT_NEAR((e.context - sum).norm(), 0.0, 1e-14);
  for (Eigen::Index i = 0; i < e.weights.size(); ++i) EXPECT_GT(e.weights(i), 0.05);  // a real blend
}

// ---- scaled ----------------------------------------------------------------------------------------------

TEST(Explain, ScaledScoresAreTheTextsNumbers) {
  const ScaledExample e = explain_scaled();
  EXPECT_EQ(e.d_k, 4);
  EXPECT_EQ(e.query.size(), 4);
  EXPECT_EQ(e.scores(0), 40.0);
  EXPECT_EQ(e.scores(1), 26.0);
  EXPECT_EQ(e.scaled_scores(0), 20.0);
  EXPECT_EQ(e.scaled_scores(1), 13.0);
  EXPECT_NEAR(e.weights.sum(), 1.0, 1e-15);
  EXPECT_NEAR(e.weights(0), 1.0 / (1.0 + std::exp(-7.0)), 1e-15);
  EXPECT_NEAR((e.context - e.weights * e.values).norm(), 0.0, 1e-15);
  EXPECT_NEAR((e.weighted_values.colwise().sum() - e.context).norm(), 0.0, 1e-15);
  EXPECT_NEAR(e.unscaled_weights(1), std::exp(-14.0) / (1.0 + std::exp(-14.0)), 1e-20);
}

// ---- two-words -------------------------------------------------------------------------------------------

TEST(Explain, TwoWordsWeights) {
  const TwoWordsExample e = explain_two_words();
  EXPECT_EQ(e.scaled_scores(0), 14.0);
  EXPECT_EQ(e.scaled_scores(1), 12.0);
  expect_rounds_to(e.weights(0), 0.88, 2);
  expect_rounds_to(e.weights(1), 0.12, 2);
  // Unscaled p1 = 1 − e^{−16}/(1 + e^{−16}) = 1 − 1.1254e−7 ("1 − 1.1e−7" to two significant digits).
  const double gap = std::exp(-16.0) / (1.0 + std::exp(-16.0));
  expect_within_percent(1.0 - e.unscaled_weights(0), gap, 2.0);
  expect_within_percent(e.unscaled_weights(1), gap, 2.0);
  expect_rounds_to(e.unscaled_weights(1) * 1e7, 1.1, 1);
}

TEST(Explain, TwoWordsJacobianEntryCollapsesWithoutScaling) {
  const TwoWordsExample e = explain_two_words();
  expect_within_percent(e.jacobian_row_scaled(0), 0.105, 2.0);         // 0.10499
  expect_within_percent(e.jacobian_row_unscaled(0), 1.1254e-7, 2.0);   // "about 1.1e−7"
  expect_rounds_to(e.jacobian_row_unscaled(0) * 1e7, 1.1, 1);
  EXPECT_NEAR(e.jacobian_row_raw_scaled(0), e.jacobian_row_scaled(0) / 8.0, 1e-15);
}

TEST(Explain, TwoWordsEngineJacobianEqualsTheFormula) {
  const TwoWordsExample e = explain_two_words();
  for (int i = 0; i < 2; ++i) {
    EXPECT_NEAR(e.jacobian_row_scaled(i), e.formula_row_scaled(i), 1e-12 * std::abs(e.formula_row_scaled(i)));
    EXPECT_NEAR(e.jacobian_row_unscaled(i), e.formula_row_unscaled(i), 1e-12 * std::abs(e.formula_row_unscaled(i)));
  }
  // and the formula is p1(1 − p1), −p1 p2 of the weights
  EXPECT_NEAR(e.formula_row_scaled(0), e.weights(0) * e.weights(1), 1e-15);
}

// ---- printing and the command ----------------------------------------------------------------------------

TEST(Explain, PrintedTextShowsTheComputedNumbersAndSources) {
  const std::string apple = explain_example("apple");
  EXPECT_NE(apple.find("(1.14, 2.43)"), std::string::npos);
  EXPECT_NE(apple.find("(2.86, 1.14)"), std::string::npos);
  EXPECT_NE(apple.find("seed 000_"), std::string::npos);
  EXPECT_NE(explain_example("seq2seq").find("seed 001_"), std::string::npos);
  EXPECT_NE(explain_example("seq2seq").find("sandbox train --model cross --task lookup --context-len 8"), std::string::npos);
  const std::string scaled = explain_example("scaled");
  EXPECT_NE(scaled.find("seed 002_"), std::string::npos);
  EXPECT_NE(scaled.find("20 and 13"), std::string::npos);
  const std::string two = explain_example("two-words");
  EXPECT_NE(two.find("Illustrated Transformer"), std::string::npos);
  EXPECT_NE(two.find("1.049936e-01"), std::string::npos);
}

TEST(Explain, UnknownExampleIsAUserErrorListingTheNames) {
  try {
    explain_example("banana");
    FAIL() << "no error";
  } catch (const sbx::UserError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("banana"), std::string::npos);
    for (const auto& name : explain_example_names()) EXPECT_NE(msg.find(name), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos);
  }
}

TEST(Explain, CommandExitCodes) {
  const auto run = [](const std::string& args) {
    const int status = std::system((std::string("'") + SANDBOX_BINARY + "' explain " + args + " >/dev/null 2>&1").c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(run(""), 0);
  EXPECT_EQ(run("--example two-words"), 0);
  EXPECT_EQ(run("--example banana"), 2);
  EXPECT_EQ(run("--bogus"), 2);
}

}  // namespace
