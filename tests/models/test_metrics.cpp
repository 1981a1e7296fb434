// Tests of the attention metrics (models/attention_metrics.*). Each statistic is checked on hand-built
// nodes whose values are known in closed form, and once against an independent recomputation on a real
// forward/backward pass of the model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "autodiff/op_table.hpp"
#include "autodiff/ops.hpp"
#include "models/attention.hpp"
#include "models/attention_metrics.hpp"

namespace {

using ad::Matrix;
using models::AttentionMeter;
using models::AttentionMetrics;
using models::AttentionNodes;

// Nodes on a tape with the given logits S, adjoint dL/dS and weights A. measure() only reads these.
AttentionNodes make_nodes(ad::Tape& tape, const Matrix& s, const Matrix& ds, const Matrix& a) {
  AttentionNodes nodes;
  nodes.logits = tape.constant(s);
  nodes.logits.node().grad = ds;
  nodes.weights = tape.constant(a);
  nodes.output = tape.constant(Matrix::Zero(a.rows(), 1));
  return nodes;
}

// ---- median ---------------------------------------------------------------------------------------------

TEST(Median, OddAndEvenCountsAndEdgeCases) {
  std::vector<double> odd = {7.0, -1.0, 3.0, 100.0, 2.0};
  EXPECT_DOUBLE_EQ(models::median_in_place(odd), 3.0);
  std::vector<double> even = {10.0, 1.0, 4.0, 2.0};
  EXPECT_DOUBLE_EQ(models::median_in_place(even), 3.0);  // (2 + 4) / 2
  std::vector<double> even2 = {5.0, 6.0, 1.0, 2.0, 3.0, 4.0};
  EXPECT_DOUBLE_EQ(models::median_in_place(even2), 3.5);
  std::vector<double> ties = {2.0, 2.0, 9.0, 2.0};
  EXPECT_DOUBLE_EQ(models::median_in_place(ties), 2.0);
  std::vector<double> two = {1.0, 4.0};
  EXPECT_DOUBLE_EQ(models::median_in_place(two), 2.5);
  std::vector<double> one = {42.0};
  EXPECT_DOUBLE_EQ(models::median_in_place(one), 42.0);
  std::vector<double> none;
  EXPECT_DOUBLE_EQ(models::median_in_place(none), 0.0);
}

TEST(Median, AgreesWithSortingOnRandomVectors) {
  ad::Rng rng(17);
  for (int n = 1; n <= 40; ++n) {
    const Matrix draws = ad::random_normal(rng, n, 1);
    std::vector<double> values(draws.data(), draws.data() + n);
    std::vector<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    const double expected = n % 2 == 1 ? sorted[static_cast<size_t>(n / 2)]
                                       : 0.5 * (sorted[static_cast<size_t>(n / 2 - 1)] + sorted[static_cast<size_t>(n / 2)]);
    EXPECT_DOUBLE_EQ(models::median_in_place(values), expected) << "n = " << n;
  }
}

// ---- hand-built rows ------------------------------------------------------------------------------------

// Four rows of two keys: saturated [0.995, 0.005], uniform, exactly at the 0.99 threshold (not above it),
// just above it.
TEST(AttentionMeter, SaturationMaxAndEntropyOnKnownRows) {
  Matrix a(4, 2);
  a << 0.995, 0.005,
       0.5, 0.5,
       0.01, 0.99,
       0.991, 0.009;
  const Matrix s = Matrix::Zero(4, 2);
  const Matrix ds = Matrix::Zero(4, 2);
  ad::Tape tape;
  AttentionMeter meter;
  const AttentionMetrics m = meter.measure(make_nodes(tape, s, ds, a));
  EXPECT_DOUBLE_EQ(m.saturated_fraction, 2.0 / 4.0);
  EXPECT_NEAR(m.attn_max, (0.995 + 0.5 + 0.99 + 0.991) / 4.0, 1e-15);
  auto h = [](double p) { return -p * std::log(p) - (1 - p) * std::log(1 - p); };
  EXPECT_NEAR(m.attn_entropy, (h(0.995) + std::log(2.0) + h(0.99) + h(0.991)) / 4.0, 1e-14);
}

TEST(AttentionMeter, UniformRowHasEntropyLogNAndOneHotRowZero) {
  for (const Eigen::Index n : {Eigen::Index{1}, Eigen::Index{3}, Eigen::Index{8}}) {
    Matrix a = Matrix::Constant(2, n, 1.0 / static_cast<double>(n));
    ad::Tape tape;
    AttentionMeter meter;
    AttentionMetrics m = meter.measure(make_nodes(tape, Matrix::Zero(2, n), Matrix::Zero(2, n), a));
    EXPECT_NEAR(m.attn_entropy, std::log(static_cast<double>(n)), 1e-14) << "n = " << n;
    EXPECT_NEAR(m.attn_max, 1.0 / static_cast<double>(n), 1e-15);
    EXPECT_DOUBLE_EQ(m.saturated_fraction, n == 1 ? 1.0 : 0.0);

    // One-hot rows (masked entries at exactly 0): entropy 0, max 1, all saturated.
    Matrix onehot = Matrix::Zero(2, n);
    onehot(0, 0) = 1.0;
    onehot(1, n - 1) = 1.0;
    ad::Tape tape2;
    m = meter.measure(make_nodes(tape2, Matrix::Zero(2, n), Matrix::Zero(2, n), onehot));
    EXPECT_DOUBLE_EQ(m.attn_entropy, 0.0);
    EXPECT_DOUBLE_EQ(m.attn_max, 1.0);
    EXPECT_DOUBLE_EQ(m.saturated_fraction, 1.0);
  }
}

// Row norms of dL/dS: 5 (3,4), 13 (5,12), 1 (0,1), 2 (2,0) -> mean 21/4, median (2 + 5)/2.
TEST(AttentionMeter, LogitGradientMeanAndMedianOfRowNorms) {
  Matrix ds(4, 2);
  ds << 3, 4,
        5, 12,
        0, 1,
        2, 0;
  const Matrix a = Matrix::Constant(4, 2, 0.5);
  ad::Tape tape;
  AttentionMeter meter;
  const AttentionMetrics even = meter.measure(make_nodes(tape, Matrix::Zero(4, 2), ds, a));
  EXPECT_DOUBLE_EQ(even.logit_grad_mean, 21.0 / 4.0);
  EXPECT_DOUBLE_EQ(even.logit_grad_median, 3.5);

  // Odd count: add a row of norm 25 (7, 24): median 5, mean 46/5.
  Matrix ds5(5, 2);
  ds5 << ds, Matrix(Eigen::RowVector2d(7, 24));
  ad::Tape tape2;
  const AttentionMetrics odd = meter.measure(make_nodes(tape2, Matrix::Zero(5, 2), ds5, Matrix::Constant(5, 2, 0.5)));
  EXPECT_DOUBLE_EQ(odd.logit_grad_mean, 46.0 / 5.0);
  EXPECT_DOUBLE_EQ(odd.logit_grad_median, 5.0);

  // The meter is reused: a second measurement of the first nodes gives the same numbers.
  const AttentionMetrics again = meter.measure(make_nodes(tape, Matrix::Zero(4, 2), ds, a));
  EXPECT_DOUBLE_EQ(again.logit_grad_mean, 21.0 / 4.0);
  EXPECT_DOUBLE_EQ(again.logit_grad_median, 3.5);
}

// With labels, only rows labelled ≥ 0 count for the logit-gradient statistics; the attention statistics
// still cover every row.
TEST(AttentionMeter, LabelsRestrictLogitGradientsToLabelledRows) {
  Matrix ds(5, 2);
  ds << 3, 4,     // 5, labelled
        100, 0,   // 100, unlabelled
        0, 1,     // 1, labelled
        0, 50,    // 50, unlabelled
        6, 8;     // 10, labelled
  Matrix a(5, 2);
  a << 1.0, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5;
  const std::vector<int> labels = {2, -1, 0, -1, 1};
  ad::Tape tape;
  AttentionMeter meter;
  const AttentionMetrics m = meter.measure(make_nodes(tape, Matrix::Zero(5, 2), ds, a), nullptr, &labels);
  EXPECT_DOUBLE_EQ(m.logit_grad_mean, 16.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.logit_grad_median, 5.0);
  EXPECT_DOUBLE_EQ(m.saturated_fraction, 1.0 / 5.0);
  EXPECT_DOUBLE_EQ(m.attn_max, (1.0 + 4 * 0.5) / 5.0);

  // No labelled row at all: the statistics are 0, not NaN.
  const std::vector<int> unlabelled(5, -1);
  const AttentionMetrics empty = meter.measure(make_nodes(tape, Matrix::Zero(5, 2), ds, a), nullptr, &unlabelled);
  EXPECT_EQ(empty.logit_grad_mean, 0.0);
  EXPECT_EQ(empty.logit_grad_median, 0.0);

  // Without labels every row counts.
  const AttentionMetrics all = meter.measure(make_nodes(tape, Matrix::Zero(5, 2), ds, a));
  EXPECT_DOUBLE_EQ(all.logit_grad_mean, (5.0 + 100.0 + 1.0 + 50.0 + 10.0) / 5.0);
  EXPECT_DOUBLE_EQ(all.logit_grad_median, 10.0);
}

// Exact zeros and exact ones, over the rows that reach the loss: a row whose gradient is merely tiny, or
// whose top weight is 1 − 1e-12, counts in neither; unlabelled rows count in neither.
TEST(AttentionMeter, ExactZeroGradientsAndExactOneHotRowsOverTheScoredRows) {
  Matrix ds(5, 2);
  ds << 0, 0,          // exactly zero, labelled
        0, 0,          // exactly zero, unlabelled
        1e-300, 0,     // tiny, labelled
        0, 0,          // exactly zero, labelled
        3, 4;          // labelled
  Matrix a(5, 2);
  a << 1.0, 0.0,               // exactly one-hot, labelled
       0.0, 1.0,               // exactly one-hot, unlabelled
       1.0 - 1e-12, 1e-12,     // nearly, labelled
       0.5, 0.5,               // labelled
       0.0, 1.0;               // exactly one-hot, labelled
  const std::vector<int> labels = {0, -1, 1, 0, 1};
  ad::Tape tape;
  AttentionMeter meter;
  const AttentionMetrics m = meter.measure(make_nodes(tape, Matrix::Zero(5, 2), ds, a), nullptr, &labels);
  EXPECT_DOUBLE_EQ(m.logit_grad_zero_fraction, 2.0 / 4.0);
  EXPECT_DOUBLE_EQ(m.top_weight_one_fraction, 2.0 / 4.0);
  const AttentionMetrics all = meter.measure(make_nodes(tape, Matrix::Zero(5, 2), ds, a));
  EXPECT_DOUBLE_EQ(all.logit_grad_zero_fraction, 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(all.top_weight_one_fraction, 3.0 / 5.0);
}

// logit_std is the population standard deviation of S over the entries a query sees: hidden entries (huge
// here, so including them would show) are left out.
TEST(AttentionMeter, LogitStdLeavesMaskedEntriesOut) {
  Matrix s(3, 3);
  s << 1, 1000, 1000,
       2, 4, 1000,
       -1, 0, 3;
  ad::BoolMatrix hidden(3, 3);
  hidden << false, true, true,
            false, false, true,
            false, false, false;
  const std::vector<double> seen = {1, 2, 4, -1, 0, 3};
  const double mean = std::accumulate(seen.begin(), seen.end(), 0.0) / 6.0;
  double var = 0.0;
  for (double v : seen) var += (v - mean) * (v - mean);
  const double expected = std::sqrt(var / 6.0);

  Matrix a(3, 3);
  a << 1, 0, 0, 0.25, 0.75, 0, 0.2, 0.3, 0.5;
  ad::Tape tape;
  AttentionMeter meter;
  const AttentionMetrics masked = meter.measure(make_nodes(tape, s, Matrix::Zero(3, 3), a), &hidden);
  EXPECT_NEAR(masked.logit_std, expected, 1e-12);

  // Without the mask every entry counts.
  const std::vector<double> every(s.data(), s.data() + s.size());
  const double mean_all = std::accumulate(every.begin(), every.end(), 0.0) / 9.0;
  double var_all = 0.0;
  for (double v : every) var_all += (v - mean_all) * (v - mean_all);
  const AttentionMetrics open = meter.measure(make_nodes(tape, s, Matrix::Zero(3, 3), a));
  EXPECT_NEAR(open.logit_std, std::sqrt(var_all / 9.0), 1e-9);

  // Constant visible logits: exactly 0, never NaN from a slightly negative variance.
  Matrix flat = Matrix::Constant(3, 3, 0.1);
  flat(0, 1) = flat(0, 2) = flat(1, 2) = -7.0;
  const AttentionMetrics zero = meter.measure(make_nodes(tape, flat, Matrix::Zero(3, 3), a), &hidden);
  EXPECT_FALSE(std::isnan(zero.logit_std));
  EXPECT_NEAR(zero.logit_std, 0.0, 1e-7);
}

// logit_std must stay accurate where the logits are large, as they are in a run heading for divergence
// (the loss and gradients can still be finite there, so the step is logged). A one-pass
// sqrt(E[s²] − E[s]²) overflows once |s| exceeds ~1e154, and loses every digit when |mean| ≫ std.
TEST(AttentionMeter, LogitStdIsAccurateForLargeLogits) {
  const Matrix a = Matrix::Constant(2, 2, 0.5);
  AttentionMeter meter;
  ad::Tape tape;
  // Overflow: logits ±1e200, standard deviation 1e200.
  Matrix huge(2, 2);
  huge << 1e200, -1e200, -1e200, 1e200;
  const AttentionMetrics big = meter.measure(make_nodes(tape, huge, Matrix::Zero(2, 2), a));
  EXPECT_TRUE(std::isfinite(big.logit_std)) << "logit_std of logits ±1e200 is " << big.logit_std;
  EXPECT_NEAR(big.logit_std / 1e200, 1.0, 1e-12);
  // Cancellation: logits 1e9 + {0, 1, 2, 3}, standard deviation √1.25.
  Matrix offset(2, 2);
  offset << 1e9, 1e9 + 1, 1e9 + 2, 1e9 + 3;
  const AttentionMetrics shifted = meter.measure(make_nodes(tape, offset, Matrix::Zero(2, 2), a));
  EXPECT_NEAR(shifted.logit_std, std::sqrt(1.25), 1e-6) << "logit_std of 1e9 + {0, 1, 2, 3}";
}

// The row norms of dL/dS must not overflow while the entries are finite: rows (3e200, 4e200) have norm
// 5e200. (Eigen's norm() squares the entries; stableNorm() or blueNorm() scale first.)
TEST(AttentionMeter, LogitGradientStatisticsDoNotOverflow) {
  Matrix ds(3, 2);
  ds << 3e200, 4e200,
        6e200, 8e200,
        0.0, 1e200;
  AttentionMeter meter;
  ad::Tape tape;
  const AttentionMetrics m = meter.measure(make_nodes(tape, Matrix::Zero(3, 2), ds, Matrix::Constant(3, 2, 0.5)));
  EXPECT_TRUE(std::isfinite(m.logit_grad_mean)) << "logit_grad/mean is " << m.logit_grad_mean;
  EXPECT_NEAR(m.logit_grad_mean / 1e200, 16.0 / 3.0, 1e-12);
  EXPECT_NEAR(m.logit_grad_median / 1e200, 5.0, 1e-12);
}

// ---- against a real forward/backward pass ---------------------------------------------------------------

struct Reference {
  double grad_mean = 0, grad_median = 0, saturated = 0, entropy = 0, max = 0, std = 0;
};

// The statistics recomputed from the model's node values by plain loops, written independently of the
// meter (two-pass variance, sorting for the median).
Reference recompute(const Matrix& s, const Matrix& ds, const Matrix& a, const ad::BoolMatrix* hidden,
                    const std::vector<int>* labels) {
  Reference r;
  std::vector<double> norms, seen;
  for (Eigen::Index i = 0; i < a.rows(); ++i) {
    if (!labels || (*labels)[static_cast<size_t>(i)] >= 0) {
      double sq = 0;
      for (Eigen::Index j = 0; j < ds.cols(); ++j) sq += ds(i, j) * ds(i, j);
      norms.push_back(std::sqrt(sq));
    }
    double top = 0, h = 0;
    for (Eigen::Index j = 0; j < a.cols(); ++j) {
      top = std::max(top, a(i, j));
      if (a(i, j) > 0) h -= a(i, j) * std::log(a(i, j));
      if (!hidden || !(*hidden)(i, j)) seen.push_back(s(i, j));
    }
    r.max += top / static_cast<double>(a.rows());
    r.saturated += (top > 0.99 ? 1.0 : 0.0) / static_cast<double>(a.rows());
    r.entropy += h / static_cast<double>(a.rows());
  }
  std::sort(norms.begin(), norms.end());
  const size_t n = norms.size();
  r.grad_mean = std::accumulate(norms.begin(), norms.end(), 0.0) / static_cast<double>(n);
  r.grad_median = n % 2 ? norms[n / 2] : 0.5 * (norms[n / 2 - 1] + norms[n / 2]);
  const double mean = std::accumulate(seen.begin(), seen.end(), 0.0) / static_cast<double>(seen.size());
  double var = 0;
  for (double v : seen) var += (v - mean) * (v - mean);
  r.std = std::sqrt(var / static_cast<double>(seen.size()));
  return r;
}

TEST(AttentionMeter, MatchesRecomputationOnAModelPass) {
  for (const bool causal : {false, true}) {
    for (const bool labelled : {false, true}) {
      models::AttentionConfig config;
      config.d_model = 9;
      config.d_k = 6;
      config.d_v = 4;
      config.d_out = 3;
      config.causal = causal;
      config.scale = models::ScaleMode::None;  // unscaled: some rows saturate
      ad::Rng rng(31);
      models::Attention model(config, rng);
      const Eigen::Index batch = 3, n = 5;
      const Matrix x = ad::random_normal(rng, batch * n, config.d_model, 2.0);
      std::vector<int> labels(static_cast<size_t>(batch * n), -1);
      for (Eigen::Index b = 0; b < batch; ++b) labels[static_cast<size_t>(b * n + n - 1)] = static_cast<int>(b % 3);
      labels[1] = 2;
      ad::Tape tape;
      const auto nodes = model.forward(tape, tape.constant(x), batch);
      const ad::Var loss = labelled ? ad::cross_entropy(nodes.output, labels)
                                    : ad::mean_squared_error(nodes.output, tape.constant(Matrix::Ones(batch * n, 3)));
      tape.backward(loss);
      const ad::BoolMatrix* hidden = causal ? &model.causal_mask_in_use() : nullptr;
      AttentionMeter meter;
      const AttentionMetrics m = meter.measure(nodes, hidden, labelled ? &labels : nullptr);
      const Reference r = recompute(nodes.logits.value(), nodes.logits.grad(), nodes.weights.value(), hidden,
                                    labelled ? &labels : nullptr);
      const std::string what = std::string(causal ? "causal" : "open") + (labelled ? " labelled" : " regression");
      EXPECT_GT(r.grad_mean, 0.0) << what;
      EXPECT_NEAR(m.logit_grad_mean, r.grad_mean, 1e-12 * (1 + r.grad_mean)) << what;
      EXPECT_NEAR(m.logit_grad_median, r.grad_median, 1e-12 * (1 + r.grad_median)) << what;
      EXPECT_NEAR(m.saturated_fraction, r.saturated, 1e-12) << what;
      EXPECT_NEAR(m.attn_entropy, r.entropy, 1e-12) << what;
      EXPECT_NEAR(m.attn_max, r.max, 1e-12) << what;
      EXPECT_NEAR(m.logit_std, r.std, 1e-9 * (1 + r.std)) << what;
      if (labelled) {
        // Rows without a label get no gradient at all through cross-entropy.
        for (Eigen::Index i = 0; i < batch * n; ++i) {
          if (labels[static_cast<size_t>(i)] < 0) {
            EXPECT_EQ(nodes.logits.grad().row(i).norm(), 0.0) << what << " row " << i;
          }
        }
      }
    }
  }
}

// Multi-head pass: the statistics over all h·B·n rows of S and A (head-major), per-head saturation and
// entropy over each head's row block, ‖∂L/∂q‖ per (row, head) slice of Q's adjoint over the rows that
// reach the loss, and max |S| over the visible entries; recomputed here with plain loops.
TEST(AttentionMeter, HeadsQueryGradientsAndLogitMaxMatchRecomputation) {
  for (const bool causal : {false, true}) {
    for (const bool labelled : {false, true}) {
      models::AttentionConfig config;
      config.d_model = 9, config.d_k = 2, config.d_v = 3, config.d_out = 4, config.heads = 3;
      config.causal = causal;
      config.scale = models::ScaleMode::None;
      ad::Rng rng(41);
      models::Attention model(config, rng);
      const Eigen::Index batch = 2, n = 5, rows = batch * n;
      const Matrix x = ad::random_normal(rng, rows, config.d_model, 3.0);
      std::vector<int> labels(static_cast<size_t>(rows), -1);
      labels[2] = 1, labels[7] = 3, labels[9] = 0;
      ad::Tape tape;
      const auto nodes = model.forward(tape, tape.constant(x), batch);
      const ad::Var loss = labelled ? ad::cross_entropy(nodes.output, labels)
                                    : ad::mean_squared_error(nodes.output, tape.constant(Matrix::Ones(rows, 4)));
      tape.backward(loss);
      const ad::BoolMatrix* hidden = causal ? &model.causal_mask_in_use() : nullptr;
      AttentionMeter meter;
      const AttentionMetrics m = meter.measure(nodes, hidden, labelled ? &labels : nullptr);
      const std::string what = std::string(causal ? "causal" : "open") + (labelled ? " labelled" : " regression");

      const Matrix& s = nodes.logits.value();
      const Matrix& a = nodes.weights.value();
      ASSERT_EQ(a.rows(), 3 * rows);
      auto counts = [&](Eigen::Index r) { return !labelled || labels[static_cast<size_t>(r)] >= 0; };
      double max_abs = 0.0;
      std::vector<double> sat(3, 0.0), ent(3, 0.0);
      for (Eigen::Index h = 0; h < 3; ++h)
        for (Eigen::Index r = 0; r < rows; ++r) {
          const Eigen::Index row = h * rows + r;
          double top = 0.0, e = 0.0;
          for (Eigen::Index j = 0; j < n; ++j) {
            const bool visible = !causal || j <= r % n;
            if (visible) max_abs = std::max(max_abs, std::fabs(s(row, j)));
            top = std::max(top, a(row, j));
            if (a(row, j) > 0) e -= a(row, j) * std::log(a(row, j));
          }
          sat[static_cast<size_t>(h)] += (top > 0.99 ? 1.0 : 0.0) / static_cast<double>(rows);
          ent[static_cast<size_t>(h)] += e / static_cast<double>(rows);
        }
      // Q's adjoint recomputed from the chain rule by hand: dQ_h = dS_h K_h per block (scale 1).
      const Matrix& ds = nodes.logits.grad();
      const Matrix k = x * model.find("W_K")->value;
      std::vector<double> q_norms;
      for (Eigen::Index r = 0; r < rows; ++r) {
        if (!counts(r)) continue;
        const Eigen::Index b = r / n;
        for (Eigen::Index h = 0; h < 3; ++h) {
          const Matrix dq = ds.row(h * rows + r) * k.block(b * n, h * 2, n, 2);
          q_norms.push_back(dq.norm());
        }
      }
      std::sort(q_norms.begin(), q_norms.end());
      const size_t c = q_norms.size();
      const double q_median = c % 2 ? q_norms[c / 2] : 0.5 * (q_norms[c / 2 - 1] + q_norms[c / 2]);
      const double q_mean = std::accumulate(q_norms.begin(), q_norms.end(), 0.0) / static_cast<double>(c);
      EXPECT_EQ(c, labelled ? 9u : 30u) << what;
      EXPECT_GT(q_mean, 0.0) << what;
      EXPECT_NEAR(m.q_grad_mean, q_mean, 1e-12 * (1 + q_mean)) << what;
      EXPECT_NEAR(m.q_grad_median, q_median, 1e-12 * (1 + q_median)) << what;
      EXPECT_GT(max_abs, 1.0) << what;
      EXPECT_DOUBLE_EQ(m.logit_max_abs, max_abs) << what;
      ASSERT_EQ(m.saturated_fraction_head.size(), 3u);
      ASSERT_EQ(m.attn_entropy_head.size(), 3u);
      for (size_t h = 0; h < 3; ++h) {
        EXPECT_NEAR(m.saturated_fraction_head[h], sat[h], 1e-12) << what << " head " << h;
        EXPECT_NEAR(m.attn_entropy_head[h], ent[h], 1e-12) << what << " head " << h;
      }
      EXPECT_NEAR(m.saturated_fraction, (sat[0] + sat[1] + sat[2]) / 3.0, 1e-12) << what;
      EXPECT_NEAR(m.attn_entropy, (ent[0] + ent[1] + ent[2]) / 3.0, 1e-12) << what;
      // The overall logit-gradient statistics count the labelled rows of every head.
      const Reference all = recompute(s, ds, a, hidden, nullptr);
      if (!labelled) {
        EXPECT_NEAR(m.logit_grad_mean, all.grad_mean, 1e-12 * (1 + all.grad_mean)) << what;
      }
    }
  }
}

TEST(AttentionMeter, OneHeadHasNoPerHeadSeriesAndQueryGradientsPerRow) {
  models::AttentionConfig config;
  config.d_model = 6, config.d_k = 4, config.d_v = 3;
  ad::Rng rng(3);
  models::Attention model(config, rng);
  const Matrix x = ad::random_normal(rng, 8, 6);
  ad::Tape tape;
  const auto nodes = model.forward(tape, tape.constant(x), 2);
  tape.backward(ad::mean_squared_error(nodes.output, tape.constant(Matrix::Zero(8, 3))));
  AttentionMeter meter;
  const AttentionMetrics m = meter.measure(nodes);
  EXPECT_TRUE(m.saturated_fraction_head.empty());
  EXPECT_TRUE(m.attn_entropy_head.empty());
  std::vector<double> norms;
  for (Eigen::Index r = 0; r < 8; ++r) norms.push_back(nodes.queries.grad().row(r).norm());
  EXPECT_NEAR(m.q_grad_mean, std::accumulate(norms.begin(), norms.end(), 0.0) / 8.0, 1e-12);
}

}  // namespace

TEST(VisibleRmsChange, HandExampleMaskAndShapeMismatch) {
  Matrix before(2, 3), after(2, 3);
  before << 0, 1, 2, 3, 4, 5;
  after << 1, 1, 2, 3, 4, 8;  // changes of 1 at (0,0) and 3 at (1,2)
  EXPECT_DOUBLE_EQ(models::visible_rms_change(after, before, nullptr), std::sqrt((1.0 + 9.0) / 6.0));
  ad::BoolMatrix hidden = ad::BoolMatrix::Constant(2, 3, false);
  hidden(1, 2) = true;
  EXPECT_DOUBLE_EQ(models::visible_rms_change(after, before, &hidden), std::sqrt(1.0 / 5.0));
  EXPECT_TRUE(std::isnan(models::visible_rms_change(after, Matrix::Zero(3, 2), nullptr)));
}
