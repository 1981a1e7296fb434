// Tests of the attention model (models/attention.*, models/model_checks.*): every listed model form passes
// the gradient check, the causal mask hides the future, cross-attention has the right shapes, the scale
// modes compute what they claim, and the initialisation gives the variances the √d_k argument rests on.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "autodiff/op_table.hpp"
#include "autodiff/ops.hpp"
#include "models/attention.hpp"
#include "models/model_checks.hpp"

namespace {

using ad::Matrix;
using models::Attention;
using models::AttentionConfig;
using models::ScaleMode;

// Population variance of every entry of a matrix.
double variance(const Matrix& m) {
  const double mean = m.mean();
  return (m.array() - mean).square().mean();
}

// ---- Gradient checks: one case per (model check, seed) --------------------------------------------------

class ModelGradcheck : public ::testing::TestWithParam<std::tuple<size_t, int>> {};

TEST_P(ModelGradcheck, MatchesCentralDifferences) {
  const models::ModelCheck& check = models::model_checks()[std::get<0>(GetParam())];
  const uint64_t seed = 500 + static_cast<uint64_t>(std::get<1>(GetParam()));
  const ad::GradcheckReport report = models::gradcheck_model(check, seed);
  EXPECT_TRUE(report.passed) << check.name << " seed " << seed << ": " << report.describe();
  EXPECT_TRUE(report.finite) << check.name;
  EXPECT_TRUE(report.repeatable) << check.name;
  EXPECT_TRUE(report.accumulates) << check.name;
  EXPECT_TRUE(report.zero_seed_gives_zero) << check.name;
  EXPECT_LE(report.worst_ratio, 1.0) << check.name;
}

std::string gradcheck_case_name(const ::testing::TestParamInfo<std::tuple<size_t, int>>& info) {
  return models::model_checks()[std::get<0>(info.param)].name + "_seed" + std::to_string(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(ModelChecks, ModelGradcheck,
                         ::testing::Combine(::testing::Range<size_t>(0, models::model_checks().size()),
                                            ::testing::Range(0, 2)),
                         gradcheck_case_name);

// The list covers every scale mode, self and cross attention, causal and not, with and without W^O, on
// shapes whose sizes are pairwise distinct (so a transposed formula cannot pass by accident).
TEST(ModelChecksList, CoversEveryFormOnDistinctShapes) {
  const auto& checks = models::model_checks();
  for (const std::string& scale : models::scale_names()) {
    bool self = false, cross = false, causal = false, wo = false, plain = false;
    for (const auto& c : checks) {
      if (models::scale_name(c.config.scale) != scale) continue;
      self = self || !c.cross;
      cross = cross || c.cross;
      causal = causal || c.config.causal;
      wo = wo || c.config.d_out > 0;
      plain = plain || (!c.cross && !c.config.causal && c.config.d_out == 0);
    }
    EXPECT_TRUE(self && cross && causal && wo && plain) << "scale " << scale << " lacks a model form";
  }
  for (const auto& c : checks) {
    EXPECT_NE(c.config.d_model, c.config.d_k) << c.name;
    EXPECT_NE(c.config.d_model, c.config.d_v) << c.name;
    EXPECT_NE(c.config.d_k, c.config.d_v) << c.name;
    if (c.cross) {
      EXPECT_NE(c.n_query, c.n_key) << c.name;
    }
  }
}

// ---- Forward semantics ----------------------------------------------------------------------------------

// The logits node holds s·QKᵀ per block with the scale each mode documents.
TEST(Attention, LogitsAreTheScaledScoresOfEachBlock) {
  for (const std::string& scale : models::scale_names()) {
    AttentionConfig config;
    config.d_model = 7;
    config.d_k = 5;
    config.d_v = 3;
    config.scale = models::parse_scale(scale);
    ad::Rng rng(11);
    Attention model(config, rng);
    if (models::has_learned_scale(config.scale)) model.find("scale")->value(0, 0) += 0.25;  // away from init
    const Eigen::Index batch = 2, n = 4;
    const Matrix x = ad::random_normal(rng, batch * n, config.d_model);
    ad::Tape tape;
    const auto nodes = model.forward(tape, tape.constant(x), batch);
    Matrix q = x * model.find("W_Q")->value;
    Matrix k = x * model.find("W_K")->value;
    const Matrix v = x * model.find("W_V")->value;
    double s = 1.0;
    if (config.scale == ScaleMode::Sqrt) s = 1.0 / std::sqrt(5.0);
    else if (config.scale == ScaleMode::Linear) s = 1.0 / 5.0;
    else if (config.scale == ScaleMode::Learned || config.scale == ScaleMode::QkNorm) s = std::exp(model.find("scale")->value(0, 0));
    if (config.scale == ScaleMode::QkNorm) {
      q.rowwise().normalize();
      k.rowwise().normalize();
    }
    ASSERT_EQ(nodes.logits.rows(), batch * n);
    ASSERT_EQ(nodes.logits.cols(), n);
    for (Eigen::Index b = 0; b < batch; ++b) {
      const Matrix expected = s * q.middleRows(b * n, n) * k.middleRows(b * n, n).transpose();
      EXPECT_TRUE(nodes.logits.value().middleRows(b * n, n).isApprox(expected, 1e-12)) << scale << " block " << b;
      // Softmax rows and the weighted sum of the block's own values.
      Matrix a = expected;
      for (Eigen::Index r = 0; r < n; ++r) {
        a.row(r) = (a.row(r).array() - a.row(r).maxCoeff()).exp();
        a.row(r) /= a.row(r).sum();
      }
      EXPECT_TRUE(nodes.weights.value().middleRows(b * n, n).isApprox(a, 1e-12)) << scale << " block " << b;
      EXPECT_TRUE(nodes.output.value().middleRows(b * n, n).isApprox(a * v.middleRows(b * n, n), 1e-12))
          << scale << " block " << b;
    }
  }
}

// ---- Causal mask ----------------------------------------------------------------------------------------

TEST(Attention, CausalMaskGivesZeroWeightAboveTheDiagonalOfEveryBlock) {
  for (const std::string& scale : models::scale_names()) {
    AttentionConfig config;
    config.d_model = 6;
    config.d_k = 4;
    config.d_v = 5;
    config.d_out = 3;
    config.causal = true;
    config.scale = models::parse_scale(scale);
    ad::Rng rng(3);
    Attention model(config, rng);
    const Eigen::Index batch = 3, n = 5;
    // Large inputs: without the mask the future keys would get clearly non-zero weight.
    const Matrix x = ad::random_normal(rng, batch * n, config.d_model, 3.0);
    ad::Tape tape;
    const auto nodes = model.forward(tape, tape.constant(x), batch);
    const Matrix& a = nodes.weights.value();
    ASSERT_EQ(a.rows(), batch * n);
    ASSERT_EQ(a.cols(), n);
    for (Eigen::Index r = 0; r < a.rows(); ++r) {
      const Eigen::Index i = r % n;  // position of the query in its sequence
      for (Eigen::Index j = 0; j < n; ++j) {
        if (j > i) {
          EXPECT_EQ(a(r, j), 0.0) << scale << ": row " << r << " sees future key " << j;
        } else {
          EXPECT_GT(a(r, j), 0.0) << scale << ": row " << r << " does not see past key " << j;
        }
      }
      EXPECT_NEAR(a.row(r).sum(), 1.0, 1e-12) << scale << " row " << r;
    }
    // The mask the metrics are given is the one that was applied.
    const ad::BoolMatrix& hidden = model.causal_mask_in_use();
    ASSERT_EQ(hidden.rows(), batch * n);
    ASSERT_EQ(hidden.cols(), n);
    for (Eigen::Index r = 0; r < hidden.rows(); ++r)
      for (Eigen::Index j = 0; j < n; ++j) EXPECT_EQ(hidden(r, j), j > r % n) << "mask row " << r << " col " << j;
  }
}

TEST(Attention, ChangingAFutureTokenLeavesEarlierOutputsUnchanged) {
  for (const std::string& scale : models::scale_names()) {
    AttentionConfig config;
    config.d_model = 6;
    config.d_k = 4;
    config.d_v = 5;
    config.d_out = 3;
    config.causal = true;
    config.scale = models::parse_scale(scale);
    ad::Rng rng(21);
    Attention model(config, rng);
    const Eigen::Index batch = 2, n = 5;
    const Matrix x = ad::random_normal(rng, batch * n, config.d_model);
    for (Eigen::Index changed = 0; changed < n; ++changed) {
      Matrix x2 = x;
      const Eigen::Index row = 1 * n + changed;  // token `changed` of sequence 1
      x2.row(row) = ad::random_normal(rng, 1, config.d_model, 2.0);
      ad::Tape tape1, tape2;
      const Matrix y1 = model.forward(tape1, tape1.constant(x), batch).output.value();
      const Matrix y2 = model.forward(tape2, tape2.constant(x2), batch).output.value();
      for (Eigen::Index r = 0; r < batch * n; ++r) {
        const bool may_change = r >= row && r < 2 * n;  // same sequence, at or after the changed token
        if (!may_change) {
          EXPECT_EQ(y1.row(r), y2.row(r)) << scale << ": output row " << r << " changed with token " << row;
        }
      }
      EXPECT_GT((y1.row(row) - y2.row(row)).norm(), 1e-9) << scale << ": the changed token's own row did not change";
    }
    // Without the mask, an earlier row does depend on a later token (so the test above can fail).
    config.causal = false;
    ad::Rng rng2(21);
    Attention open(config, rng2);
    Matrix x2 = x;
    x2.row(n + n - 1) *= -3.0;
    ad::Tape tape1, tape2;
    const Matrix y1 = open.forward(tape1, tape1.constant(x), batch).output.value();
    const Matrix y2 = open.forward(tape2, tape2.constant(x2), batch).output.value();
    EXPECT_GT((y1.row(n) - y2.row(n)).norm(), 1e-9) << scale;
  }
}

// ---- Cross-attention ------------------------------------------------------------------------------------

TEST(Attention, CrossAttentionShapesWithDifferentQueryAndKeyLengths) {
  for (const Eigen::Index d_out : {Eigen::Index{0}, Eigen::Index{2}}) {
    AttentionConfig config;
    config.d_model = 5;
    config.d_k = 3;
    config.d_v = 4;
    config.d_out = d_out;
    ad::Rng rng(8);
    Attention model(config, rng);
    const Eigen::Index batch = 2, n_query = 3, n_key = 7;
    const Matrix xq = ad::random_normal(rng, batch * n_query, config.d_model);
    const Matrix xc = ad::random_normal(rng, batch * n_key, config.d_model);
    ad::Tape tape;
    const auto nodes = model.forward(tape, tape.constant(xq), tape.constant(xc), batch);
    EXPECT_EQ(nodes.logits.rows(), batch * n_query);
    EXPECT_EQ(nodes.logits.cols(), n_key);
    EXPECT_EQ(nodes.weights.rows(), batch * n_query);
    EXPECT_EQ(nodes.weights.cols(), n_key);
    EXPECT_EQ(nodes.output.rows(), batch * n_query);
    EXPECT_EQ(nodes.output.cols(), d_out > 0 ? d_out : config.d_v);
    for (Eigen::Index r = 0; r < nodes.weights.rows(); ++r) EXPECT_NEAR(nodes.weights.value().row(r).sum(), 1.0, 1e-12);

    // Queries of sequence 0 only look at the context of sequence 0.
    Matrix xc2 = xc;
    xc2.middleRows(n_key, n_key) *= -2.0;
    ad::Tape tape2;
    const auto nodes2 = model.forward(tape2, tape2.constant(xq), tape2.constant(xc2), batch);
    EXPECT_EQ(nodes.output.value().topRows(n_query), nodes2.output.value().topRows(n_query));
    EXPECT_GT((nodes.output.value().bottomRows(n_query) - nodes2.output.value().bottomRows(n_query)).norm(), 1e-9);
  }
}

// ---- Parameters and initialisation ----------------------------------------------------------------------

TEST(Attention, ParametersInDocumentedOrderWithShapes) {
  AttentionConfig config;
  config.d_model = 12;
  config.d_k = 5;
  config.d_v = 7;
  config.d_out = 3;
  config.scale = ScaleMode::Learned;
  ad::Rng rng(0);
  Attention model(config, rng);
  const auto params = model.parameters();
  ASSERT_EQ(params.size(), 5u);
  const std::vector<std::string> names = {"W_Q", "W_K", "W_V", "W_O", "scale"};
  const std::vector<std::pair<Eigen::Index, Eigen::Index>> shapes = {{12, 5}, {12, 5}, {12, 7}, {7, 3}, {1, 1}};
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(params[i]->name, names[i]);
    EXPECT_EQ(params[i]->value.rows(), shapes[i].first) << names[i];
    EXPECT_EQ(params[i]->value.cols(), shapes[i].second) << names[i];
    EXPECT_EQ(model.find(names[i]), params[i]);
  }
  config.d_out = 0;
  config.scale = ScaleMode::Sqrt;
  Attention plain(config, rng);
  EXPECT_EQ(plain.parameters().size(), 3u);
  EXPECT_EQ(plain.find("W_O"), nullptr);
  EXPECT_EQ(plain.find("scale"), nullptr);
}

TEST(Attention, InitialLogScaleForLearnedAndQkNorm) {
  for (const Eigen::Index d_k : {Eigen::Index{1}, Eigen::Index{3}, Eigen::Index{16}, Eigen::Index{64}}) {
    const double log_dk = std::log(static_cast<double>(d_k));
    for (const ScaleMode mode : {ScaleMode::Learned, ScaleMode::QkNorm}) {
      AttentionConfig config;
      config.d_model = 8;
      config.d_k = d_k;
      config.scale = mode;
      ad::Rng rng(1);
      Attention model(config, rng);
      const double expected = mode == ScaleMode::Learned ? -0.5 * log_dk : 0.5 * log_dk;
      EXPECT_NEAR(model.initial_log_scale(), expected, 1e-15) << models::scale_name(mode) << " d_k " << d_k;
      ASSERT_NE(model.find("scale"), nullptr);
      EXPECT_EQ(model.find("scale")->value.rows(), 1);
      EXPECT_EQ(model.find("scale")->value.cols(), 1);
      EXPECT_NEAR(model.find("scale")->value(0, 0), expected, 1e-15) << models::scale_name(mode) << " d_k " << d_k;
    }
  }
}

// The premise of the √d_k argument: with σ = 1/√d_model and unit-variance inputs, q = x W^Q has
// unit-variance components.
TEST(Attention, DefaultInitGivesUnitVarianceQueriesAndKeys) {
  const Eigen::Index d_model = 64, d_k = 32;
  double sum_q = 0.0, sum_k = 0.0;
  const int models_drawn = 24;
  for (int seed = 0; seed < models_drawn; ++seed) {
    AttentionConfig config;
    config.d_model = d_model;
    config.d_k = d_k;
    config.d_v = 8;
    ad::Rng rng(static_cast<uint64_t>(100 + seed));
    Attention model(config, rng);
    EXPECT_DOUBLE_EQ(model.config().init_std, 1.0 / std::sqrt(64.0));
    const Matrix x = ad::random_normal(rng, 256, d_model);
    sum_q += variance(x * model.find("W_Q")->value);
    sum_k += variance(x * model.find("W_K")->value);
  }
  const double var_q = sum_q / models_drawn, var_k = sum_k / models_drawn;
  EXPECT_NEAR(var_q, 1.0, 0.1) << "Var(q) with init_std 1/sqrt(d_model)";
  EXPECT_NEAR(var_k, 1.0, 0.1) << "Var(k) with init_std 1/sqrt(d_model)";
}

// Unscaled logits have variance ≈ d_k, sqrt-scaled ≈ 1 (d_k = 64), linear ≈ 1/d_k.
TEST(Attention, LogitVarianceIsDkUnscaledAndOneWithSqrt) {
  const Eigen::Index d_k = 64;
  double sum_none = 0.0, sum_sqrt = 0.0, sum_linear = 0.0;
  const int models_drawn = 16;
  for (int seed = 0; seed < models_drawn; ++seed) {
    for (const ScaleMode mode : {ScaleMode::None, ScaleMode::Sqrt, ScaleMode::Linear}) {
      AttentionConfig config;
      config.d_model = 64;
      config.d_k = d_k;
      config.d_v = 4;
      config.scale = mode;
      ad::Rng rng(static_cast<uint64_t>(200 + seed));  // same weights and data for every mode
      Attention model(config, rng);
      const Eigen::Index batch = 8, n = 32;
      const Matrix x = ad::random_normal(rng, batch * n, config.d_model);
      ad::Tape tape;
      const double v = variance(model.forward(tape, tape.constant(x), batch).logits.value());
      (mode == ScaleMode::None ? sum_none : mode == ScaleMode::Sqrt ? sum_sqrt : sum_linear) += v;
    }
  }
  const double none = sum_none / models_drawn, sqrt_scaled = sum_sqrt / models_drawn, linear = sum_linear / models_drawn;
  EXPECT_NEAR(none / static_cast<double>(d_k), 1.0, 0.15) << "Var(unscaled logits) = " << none;
  EXPECT_NEAR(sqrt_scaled, 1.0, 0.15) << "Var(sqrt-scaled logits)";
  EXPECT_NEAR(linear * static_cast<double>(d_k), 1.0, 0.15) << "Var(linear-scaled logits) = " << linear;
}

TEST(Attention, ExplicitInitStdIsUsed) {
  AttentionConfig config;
  config.d_model = 40;
  config.d_k = 30;
  config.d_v = 20;
  config.init_std = 0.3;
  ad::Rng rng(5);
  Attention model(config, rng);
  EXPECT_DOUBLE_EQ(model.config().init_std, 0.3);
  const Matrix& w = model.find("W_Q")->value;
  EXPECT_NEAR(std::sqrt(variance(w)), 0.3, 0.03);
}

TEST(Attention, ScaleNamesRoundTripAndUnknownIsRejected) {
  for (const std::string& name : models::scale_names()) EXPECT_EQ(models::scale_name(models::parse_scale(name)), name);
  EXPECT_THROW(models::parse_scale("sqrtdk"), std::invalid_argument);
  EXPECT_TRUE(models::has_learned_scale(ScaleMode::Learned));
  EXPECT_TRUE(models::has_learned_scale(ScaleMode::QkNorm));
  EXPECT_FALSE(models::has_learned_scale(ScaleMode::Sqrt));
}

}  // namespace
