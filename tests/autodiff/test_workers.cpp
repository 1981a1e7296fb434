// Threads inside one evaluation (autodiff/workers.hpp): every op that splits its work over a team gives
// the same bits as the single thread, for teams of 2 and 3, on shapes whose sizes are not multiples of the
// split's granule; and the team itself covers each range once and passes exceptions back.
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <iterator>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <vector>

#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"
#include "autodiff/workers.hpp"
#include "models/attention.hpp"
#include "models/attention_metrics.hpp"

namespace {

using ad::Matrix;

bool same_bits(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         (a.size() == 0 || std::memcmp(a.data(), b.data(), sizeof(double) * static_cast<size_t>(a.size())) == 0);
}

// Builds a graph from `inputs` (as tape constants that need gradients), back-propagates a fixed random
// seed from its output, and returns the output's value followed by every input's gradient.
using Graph = std::function<ad::Var(ad::Tape&, const std::vector<ad::Var>&)>;
std::vector<Matrix> evaluate(const Graph& graph, const std::vector<Matrix>& inputs, ad::Workers* workers) {
  ad::Tape tape;
  tape.set_workers(workers);
  std::vector<ad::Var> vars;
  for (const Matrix& m : inputs) vars.push_back(tape.constant(m, true));
  const ad::Var out = graph(tape, vars);
  ad::Rng rng(99);
  tape.backward(out, ad::random_normal(rng, out.rows(), out.cols()));
  std::vector<Matrix> results = {out.value()};
  for (const ad::Var& v : vars) results.push_back(v.grad());
  return results;
}

// Calls check(workers, threads) with a team of 2 and one of 3 threads that split everything they can.
template <class Check>
void for_each_team(Check&& check) {
  for (int threads : {2, 3}) {
    ad::Workers workers(threads);
    workers.set_min_work(0);
    check(workers, threads);
  }
}

void expect_same_for_any_team(const char* what, const Graph& graph, const std::vector<Matrix>& inputs) {
  const std::vector<Matrix> alone = evaluate(graph, inputs, nullptr);
  for_each_team([&](ad::Workers& workers, int threads) {
    const std::vector<Matrix> team = evaluate(graph, inputs, &workers);
    ASSERT_EQ(team.size(), alone.size());
    for (size_t i = 0; i < team.size(); ++i)
      EXPECT_TRUE(same_bits(team[i], alone[i])) << what << ": " << (i == 0 ? "value" : "gradient of input " + std::to_string(i - 1))
                                                << " differs with " << threads << " threads";
  });
}

Matrix normal(ad::Rng& rng, Eigen::Index rows, Eigen::Index cols) { return ad::random_normal(rng, rows, cols); }

TEST(Workers, MatmulIsBitwiseTheSameForAnyTeam) {
  ad::Rng rng(1);
  // rows × depth × cols: rows not multiples of 48, a one-column product (Eigen's matrix-vector path),
  // a depth beyond Eigen's cache block, and dB's rows (the depth of A) split too.
  const int shapes[][3] = {{333, 70, 45}, {2000, 64, 1}, {100, 300, 7}, {97, 531, 130}, {250, 1100, 9}};
  for (const auto& s : shapes) {
    const std::vector<Matrix> in = {normal(rng, s[0], s[1]), normal(rng, s[1], s[2])};
    expect_same_for_any_team("matmul", [](ad::Tape&, const std::vector<ad::Var>& v) { return ad::matmul(v[0], v[1]); }, in);
  }
}

TEST(Workers, BatchedAttentionProductsAreBitwiseTheSameForAnyTeam) {
  ad::Rng rng(2);
  const Eigen::Index batch = 5, nq = 13, nk = 11, d = 7, dv = 6;
  const std::vector<Matrix> in = {normal(rng, batch * nq, d), normal(rng, batch * nk, d), normal(rng, batch * nk, dv)};
  expect_same_for_any_team("batched scores, softmax, weighted sum",
                           [&](ad::Tape&, const std::vector<ad::Var>& v) {
                             const ad::Var s = ad::batched_scores(v[0], v[1], batch, 0.37);
                             return ad::batched_weighted_sum(ad::softmax_rows(s), v[2], batch);
                           },
                           in);
}

TEST(Workers, SoftmaxAndCrossEntropyAreBitwiseTheSameForAnyTeam) {
  ad::Rng rng(3);
  Matrix logits = 30.0 * normal(rng, 437, 29);  // saturated rows too
  ad::BoolMatrix hidden = ad::BoolMatrix::Zero(437, 29);
  for (Eigen::Index r = 0; r < 437; ++r)
    for (Eigen::Index c = 0; c < 29; ++c) hidden(r, c) = r % 97 == 5 || (r + c) % 7 == 0;  // whole rows masked too
  expect_same_for_any_team("masked softmax",
                           [&](ad::Tape&, const std::vector<ad::Var>& v) { return ad::softmax_rows(ad::mask(v[0], hidden)); },
                           {logits});
  std::vector<int> targets(437);
  for (size_t i = 0; i < targets.size(); ++i) targets[i] = i % 11 == 3 ? -1 : static_cast<int>(i % 29);
  expect_same_for_any_team("cross entropy",
                           [&](ad::Tape&, const std::vector<ad::Var>& v) { return ad::cross_entropy(v[0], targets); },
                           {logits});
}

TEST(Workers, AttentionModelGradientsAreBitwiseTheSameForAnyTeam) {
  // The whole model: 3 heads, causal, W^O, learned scale; the team also splits Q, K, V's projections.
  for (const models::ScaleMode scale : {models::ScaleMode::Sqrt, models::ScaleMode::Learned}) {
    models::AttentionConfig config;
    // d_model 150 and 10·15 = 150 rows: every split (the weight gradients' rows too) makes three ranges.
    config.d_model = 150, config.d_k = 5, config.d_v = 4, config.heads = 3, config.d_out = 6, config.causal = true;
    config.scale = scale;
    ad::Rng data_rng(4);
    const Eigen::Index batch = 10, n = 15;
    const Matrix x = normal(data_rng, batch * n, config.d_model);
    auto gradients = [&](ad::Workers* workers) {
      ad::Rng rng(5);
      models::Attention model(config, rng);
      ad::Tape tape;
      tape.set_workers(workers);
      const models::AttentionNodes nodes = model.forward(tape, tape.constant(x), batch);
      tape.backward(ad::mean(ad::mul(nodes.output, nodes.output)));
      std::vector<Matrix> grads;
      for (ad::Parameter* p : model.parameters()) grads.push_back(p->grad);
      grads.push_back(nodes.weights.value());
      return grads;
    };
    const std::vector<Matrix> alone = gradients(nullptr);
    for_each_team([&](ad::Workers& workers, int threads) {
      const std::vector<Matrix> team = gradients(&workers);
      for (size_t i = 0; i < alone.size(); ++i)
        EXPECT_TRUE(same_bits(team[i], alone[i])) << "item " << i << " with " << threads << " threads";
    });
  }
}

TEST(Workers, AttentionMetricsAreBitwiseTheSameForAnyTeam) {
  // The metrics share rows out when the tape has workers (maxima, entropies, ‖∂L/∂S_row‖), then sum them
  // in row order: every metric is the same bits. 4 heads × 8 sequences × 20 queries = 640 rows, some
  // unlabelled (they do not reach the loss), a causal mask.
  models::AttentionConfig config;
  config.d_model = 24, config.d_k = 6, config.d_v = 6, config.heads = 4, config.d_out = 7, config.causal = true;
  const Eigen::Index batch = 8, n = 20;
  ad::Rng data_rng(6);
  const Matrix x = normal(data_rng, batch * n, config.d_model);
  std::vector<int> labels(static_cast<size_t>(batch * n));
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = i % 3 == 0 ? -1 : static_cast<int>(i % 7);
  auto metrics = [&](ad::Workers* workers) {
    ad::Rng rng(7);
    models::Attention model(config, rng);
    ad::Tape tape;
    tape.set_workers(workers);
    const models::AttentionNodes nodes = model.forward(tape, tape.constant(x), batch);
    tape.backward(ad::cross_entropy(nodes.output, labels));
    models::AttentionMeter meter;
    return meter.measure(nodes, &model.causal_mask_in_use(), &labels);
  };
  const models::AttentionMetrics alone = metrics(nullptr);
  for_each_team([&](ad::Workers& workers, int threads) {
    const models::AttentionMetrics team = metrics(&workers);
    const double pairs[][2] = {{alone.attn_max, team.attn_max},
                               {alone.saturated_fraction, team.saturated_fraction},
                               {alone.attn_entropy, team.attn_entropy},
                               {alone.logit_grad_mean, team.logit_grad_mean},
                               {alone.logit_grad_median, team.logit_grad_median},
                               {alone.logit_std, team.logit_std},
                               {alone.q_grad_mean, team.q_grad_mean}};
    for (size_t i = 0; i < std::size(pairs); ++i)
      EXPECT_EQ(std::memcmp(&pairs[i][0], &pairs[i][1], sizeof(double)), 0) << "metric " << i << " with " << threads << " threads";
    EXPECT_EQ(alone.attn_entropy_head, team.attn_entropy_head);
    EXPECT_EQ(alone.saturated_fraction_head, team.saturated_fraction_head);
  });
}

TEST(Workers, RangesCoverEveryIndexOnceAtGranuleStarts) {
  ad::Workers workers(3);
  workers.set_min_work(0);
  for (const Eigen::Index total : {0, 1, 47, 48, 95, 96, 97, 1000}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(total));
    std::atomic<int> ranges{0}, misaligned{0};
    ad::parallel_ranges(&workers, total, 48, 1.0, [&](Eigen::Index begin, Eigen::Index count) {
      ++ranges;
      if (begin % 48 != 0) ++misaligned;
      for (Eigen::Index i = begin; i < begin + count; ++i) ++hits[static_cast<size_t>(i)];
    });
    for (Eigen::Index i = 0; i < total; ++i) EXPECT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "total " << total << " index " << i;
    EXPECT_EQ(misaligned.load(), 0) << "total " << total;
    EXPECT_EQ(ranges.load(), total >= 144 ? 3 : total >= 96 ? 2 : 1) << "total " << total;
  }
}

TEST(Workers, ASplitInsideATaskRunsOnItsOwnThreadInsteadOfWaiting) {
  // A task that asks the busy team for another split would wait for itself forever; it gets its ranges
  // on its own thread instead, each index still covered once.
  ad::Workers workers(2);
  workers.set_min_work(0);
  std::vector<std::atomic<int>> hits(200);
  ad::parallel_ranges(&workers, 2, 1, 1.0, [&](Eigen::Index begin, Eigen::Index) {
    ad::parallel_ranges(&workers, 100, 10, 1.0, [&](Eigen::Index b, Eigen::Index count) {
      for (Eigen::Index i = b; i < b + count; ++i) ++hits[static_cast<size_t>(100 * begin + i)];
    });
  });
  for (size_t i = 0; i < hits.size(); ++i) EXPECT_EQ(hits[i].load(), 1) << i;
}

TEST(Workers, ExceptionOfAHelperThreadReachesTheCaller) {
  ad::Workers workers(2);
  auto task = [](int i) {
    if (i == 1) throw std::runtime_error("from the helper");
  };
  EXPECT_THROW(workers.run(2, task), std::runtime_error);
  int runs = 0;
  auto fine = [&](int) { ++runs; };
  workers.run(1, fine);  // still usable afterwards
  EXPECT_EQ(runs, 1);
  EXPECT_THROW(ad::Workers(0), std::invalid_argument);
}

}  // namespace
