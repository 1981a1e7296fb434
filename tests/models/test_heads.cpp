// Tests of multi-head attention (models/attention.*, ad::split_heads / ad::merge_heads): one head is the
// single-head model bit for bit, h heads are h single heads computed separately and concatenated, and the
// parameters have the documented shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "autodiff/op_table.hpp"
#include "autodiff/ops.hpp"
#include "models/attention.hpp"

namespace {

using ad::Matrix;
using models::Attention;
using models::AttentionConfig;
using models::ScaleMode;

// The single-head model as it was before heads existed, written out op by op from its weights, so that a
// change of the one-head path (an extra op, another order of rounding, other initial draws) shows.
struct Plain {
  Matrix output, logits, weights;
  std::vector<Matrix> grads;  // W_Q, W_K, W_V, then W_O and scale when present
};
Plain plain_single_head(const AttentionConfig& c, std::vector<ad::Parameter*> params, const Matrix& xq, const Matrix& xc,
                        Eigen::Index batch, const Matrix& seed) {
  ad::Tape tape;
  std::vector<ad::Var> w;
  for (ad::Parameter* p : params) w.push_back(tape.constant(p->value, true));
  const ad::Var x_query = tape.constant(xq), x_context = tape.constant(xc);
  ad::Var q = ad::matmul(x_query, w[0]);
  ad::Var k = ad::matmul(x_context, w[1]);
  const ad::Var v = ad::matmul(x_context, w[2]);
  if (c.scale == ScaleMode::QkNorm) {
    q = ad::l2_normalize_rows(q);
    k = ad::l2_normalize_rows(k);
  }
  const double d_k = static_cast<double>(c.d_k);
  ad::Var logits;
  if (c.scale == ScaleMode::None) logits = ad::batched_scores(q, k, batch);
  else if (c.scale == ScaleMode::Sqrt) logits = ad::batched_scores(q, k, batch, 1.0 / std::sqrt(d_k));
  else if (c.scale == ScaleMode::Linear) logits = ad::batched_scores(q, k, batch, 1.0 / d_k);
  else logits = ad::scale_by(ad::batched_scores(q, k, batch), ad::exp(w.back()));
  const Eigen::Index nq = xq.rows() / batch, nk = xc.rows() / batch;
  ad::BoolMatrix hidden(batch * nq, nk);
  for (Eigen::Index r = 0; r < hidden.rows(); ++r)
    for (Eigen::Index j = 0; j < nk; ++j) hidden(r, j) = j > r % nq;
  const ad::Var masked = c.causal ? ad::mask(logits, hidden) : logits;
  const ad::Var weights = ad::softmax_rows(masked);
  const ad::Var z = ad::batched_weighted_sum(weights, v, batch);
  const ad::Var out = c.d_out > 0 ? ad::matmul(z, w[3]) : z;
  tape.backward(out, seed);
  Plain p{out.value(), logits.value(), weights.value(), {}};
  for (const ad::Var& var : w) p.grads.push_back(var.grad());
  return p;
}

std::vector<AttentionConfig> every_form(Eigen::Index heads) {
  std::vector<AttentionConfig> all;
  for (const std::string& scale : models::scale_names())
    for (int variant = 0; variant < 4; ++variant) {
      AttentionConfig c;
      c.d_model = 7;
      c.d_k = 3;
      c.d_v = 5;
      c.heads = heads;
      c.scale = models::parse_scale(scale);
      c.causal = variant % 2 == 1;
      c.d_out = variant >= 2 ? 4 : 0;
      all.push_back(c);
    }
  return all;
}

std::string describe(const AttentionConfig& c, bool cross) {
  return models::scale_name(c.scale) + (c.causal ? " causal" : "") + (c.d_out > 0 ? " W^O" : "") + (cross ? " cross" : " self");
}

TEST(Heads, OneHeadIsTheSingleHeadModelBitForBit) {
  for (const AttentionConfig& config : every_form(1)) {
    for (const bool cross : {false, true}) {
      ad::Rng rng(5);
      Attention model(config, rng);
      // The weights are the draws the single-head model made: W_Q, W_K, W_V at 1/√d_model, W_O at 1/√d_v.
      ad::Rng replay(5);
      const double std = 1.0 / std::sqrt(7.0);
      EXPECT_EQ(model.find("W_Q")->value, ad::random_normal(replay, 7, 3, std));
      EXPECT_EQ(model.find("W_K")->value, ad::random_normal(replay, 7, 3, std));
      EXPECT_EQ(model.find("W_V")->value, ad::random_normal(replay, 7, 5, std));
      if (config.d_out > 0) {
        EXPECT_EQ(model.find("W_O")->value, ad::random_normal(replay, 5, 4, 1.0 / std::sqrt(5.0)));
      }
      if (models::has_learned_scale(config.scale)) model.find("scale")->value(0, 0) += 0.2;

      const Eigen::Index batch = 3, nq = 4, nk = cross ? 6 : 4;
      const Matrix xq = ad::random_normal(rng, batch * nq, 7);
      const Matrix xc = cross ? ad::random_normal(rng, batch * nk, 7) : xq;
      const Matrix seed = ad::random_normal(rng, batch * nq, config.d_out > 0 ? config.d_out : config.d_v);
      ad::Tape tape;
      for (ad::Parameter* p : model.parameters()) p->zero_grad();
      const auto nodes = cross ? model.forward(tape, tape.constant(xq), tape.constant(xc), batch)
                               : model.forward(tape, tape.constant(xq), batch);
      tape.backward(nodes.output, seed);
      const Plain expected = plain_single_head(config, model.parameters(), xq, xc, batch, seed);
      const std::string what = describe(config, cross);
      EXPECT_EQ(nodes.output.value(), expected.output) << what;
      EXPECT_EQ(nodes.logits.value(), expected.logits) << what;
      EXPECT_EQ(nodes.weights.value(), expected.weights) << what;
      const auto params = model.parameters();
      ASSERT_EQ(params.size(), expected.grads.size());
      for (size_t i = 0; i < params.size(); ++i) EXPECT_EQ(params[i]->grad, expected.grads[i]) << what << " " << params[i]->name;
    }
  }
}

TEST(Heads, ParameterShapesGrowWithTheHeads) {
  AttentionConfig config;
  config.d_model = 12, config.d_k = 2, config.d_v = 5, config.d_out = 3, config.heads = 4;
  ad::Rng rng(0);
  Attention model(config, rng);
  EXPECT_EQ(model.find("W_Q")->value.rows(), 12);
  EXPECT_EQ(model.find("W_Q")->value.cols(), 8);
  EXPECT_EQ(model.find("W_K")->value.cols(), 8);
  EXPECT_EQ(model.find("W_V")->value.cols(), 20);
  EXPECT_EQ(model.find("W_O")->value.rows(), 20);
  EXPECT_EQ(model.find("W_O")->value.cols(), 3);
  config.heads = 0;
  EXPECT_THROW(Attention(config, rng), std::invalid_argument);
}

// h heads = h single-head models, each given its own column blocks of W^Q, W^K, W^V, run separately;
// their outputs Z_i concatenated and multiplied by W^O. Scores and weights of head i are the row block i.
TEST(Heads, MultiHeadIsTheConcatenationOfSingleHeadsComputedSeparately) {
  const Eigen::Index heads = 3;
  for (const AttentionConfig& config : every_form(heads)) {
    for (const bool cross : {false, true}) {
      ad::Rng rng(9);
      Attention model(config, rng);
      if (models::has_learned_scale(config.scale)) model.find("scale")->value(0, 0) -= 0.3;
      const Eigen::Index batch = 2, nq = 4, nk = cross ? 5 : 4;
      const Matrix xq = ad::random_normal(rng, batch * nq, config.d_model);
      const Matrix xc = cross ? ad::random_normal(rng, batch * nk, config.d_model) : xq;
      ad::Tape tape;
      const auto nodes = model.forward(tape, tape.constant(xq), tape.constant(xc), batch);
      ASSERT_EQ(nodes.logits.rows(), heads * batch * nq);
      ASSERT_EQ(nodes.logits.cols(), nk);

      Matrix z(batch * nq, heads * config.d_v);
      for (Eigen::Index h = 0; h < heads; ++h) {
        AttentionConfig one = config;
        one.heads = 1;
        one.d_out = 0;
        ad::Rng unused(0);
        Attention single(one, unused);
        single.find("W_Q")->value = model.find("W_Q")->value.middleCols(h * config.d_k, config.d_k);
        single.find("W_K")->value = model.find("W_K")->value.middleCols(h * config.d_k, config.d_k);
        single.find("W_V")->value = model.find("W_V")->value.middleCols(h * config.d_v, config.d_v);
        if (models::has_learned_scale(config.scale)) single.find("scale")->value = model.find("scale")->value;
        ad::Tape t;
        const auto head = single.forward(t, t.constant(xq), t.constant(xc), batch);
        z.middleCols(h * config.d_v, config.d_v) = head.output.value();
        const Eigen::Index rows = batch * nq;
        EXPECT_TRUE(nodes.logits.value().middleRows(h * rows, rows).isApprox(head.logits.value(), 1e-13))
            << describe(config, cross) << " head " << h;
        EXPECT_TRUE(nodes.weights.value().middleRows(h * rows, rows).isApprox(head.weights.value(), 1e-13))
            << describe(config, cross) << " head " << h;
      }
      const Matrix expected = config.d_out > 0 ? Matrix(z * model.find("W_O")->value) : z;
      EXPECT_TRUE(nodes.output.value().isApprox(expected, 1e-12)) << describe(config, cross);
    }
  }
}

TEST(Heads, SplitAndMergeMoveColumnBlocksToRowBlocksAndBack) {
  ad::Rng rng(2);
  const Matrix x = ad::random_normal(rng, 4, 6);
  ad::Tape tape;
  const ad::Var split = ad::split_heads(tape.constant(x), 3);
  ASSERT_EQ(split.rows(), 12);
  ASSERT_EQ(split.cols(), 2);
  for (Eigen::Index h = 0; h < 3; ++h) EXPECT_EQ(Matrix(split.value().middleRows(h * 4, 4)), Matrix(x.middleCols(h * 2, 2)));
  EXPECT_EQ(ad::merge_heads(split, 3).value(), x);
  EXPECT_THROW(ad::split_heads(tape.constant(x), 4), std::invalid_argument);
  EXPECT_THROW(ad::merge_heads(tape.constant(x), 3), std::invalid_argument);
}

}  // namespace
