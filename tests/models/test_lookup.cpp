// Tests of the encoder–decoder task `lookup` (models/tasks.cpp) and of training cross-attention on it:
// what the task asks, its chance level, that a short sqrt run learns it on held-out batches, and that a
// model whose attention is held uniform cannot.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "autodiff/optim.hpp"
#include "experiments/src/train/trainer.hpp"
#include "experiments/src/train/training_step.hpp"
#include "models/attention.hpp"
#include "models/tasks.hpp"

namespace {

using ad::Matrix;

models::TaskConfig lookup_config(uint64_t seed) {
  models::TaskConfig c;
  c.d_model = 32, c.d_k = 4, c.d_v = 8, c.seq_len = 4, c.context_len = 8, c.batch = 32, c.seed = seed;
  return c;
}

// Encoder row j holds (key_j + value_j)/√2 with distinct keys; each decoder row holds one of those keys,
// and its label is that key's value. The embeddings are rebuilt with the task's seed logic (Rng(0x100c0b)
// drawn into the key then the value embeddings); if that changes, this test must follow.
TEST(LookupTask, EachDecoderRowAsksForAKeyOfItsOwnEncoderSequence) {
  const models::TaskConfig c = lookup_config(2);
  auto task = models::make_task("lookup", c);
  EXPECT_TRUE(task->classifies());
  EXPECT_EQ(task->output_width(), 8);
  ad::Rng embed(0x100c0bULL);
  const Matrix keys = ad::random_normal(embed, 16, 32);
  const Matrix values = ad::random_normal(embed, 8, 32);
  models::Batch b;
  task->next_batch(b);
  ASSERT_EQ(b.context_len, 8);
  ASSERT_EQ(b.x.rows(), 32 * 4);
  ASSERT_EQ(b.x_context.rows(), 32 * 8);
  ASSERT_EQ(b.x_context.cols(), 32);
  for (Eigen::Index s = 0; s < b.batch; ++s) {
    std::set<int> seen_values;
    for (Eigen::Index j = 0; j < b.context_len; ++j) {
      int found = -1;
      for (int v = 0; v < 8; ++v)
        for (Eigen::Index k = 0; k < 16; ++k)
          if ((b.x_context.row(s * 8 + j) * std::sqrt(2.0) - keys.row(k) - values.row(v)).norm() < 1e-12) found = v;
      ASSERT_GE(found, 0) << "encoder row " << j << " of sequence " << s << " is not a key/value pair";
      seen_values.insert(found);
    }
    EXPECT_EQ(seen_values.size(), 8u) << "8 positions, 8 values: each value once";
    for (Eigen::Index i = 0; i < b.seq_len; ++i) {
      const Eigen::Index row = s * b.seq_len + i;
      const int label = b.labels[static_cast<size_t>(row)];
      int matches = 0;
      for (Eigen::Index k = 0; k < 16; ++k) {
        if (b.x.row(row) != keys.row(k)) continue;
        for (Eigen::Index j = 0; j < b.context_len; ++j)
          if ((b.x_context.row(s * 8 + j) * std::sqrt(2.0) - keys.row(k) - values.row(label)).norm() < 1e-12) ++matches;
      }
      EXPECT_EQ(matches, 1) << "sequence " << s << " decoder row " << i;
    }
  }
}

TEST(LookupTask, ChanceLevelAttributesAndBadConfigurations) {
  auto task = models::make_task("lookup", lookup_config(0));
  std::map<std::string, double> attributes;
  for (const auto& a : task->attributes()) attributes[a.name] = a.value;
  EXPECT_DOUBLE_EQ(attributes.at("chance_accuracy"), 1.0 / 8.0);
  EXPECT_DOUBLE_EQ(attributes.at("lookup_values"), 8.0);
  EXPECT_DOUBLE_EQ(attributes.at("lookup_keys"), 16.0);  // 2·context_len distinct keys to draw from
  models::TaskConfig self = lookup_config(0);
  self.context_len = 0;
  EXPECT_THROW(models::make_task("lookup", self), std::invalid_argument);
  models::TaskConfig cross = lookup_config(0);
  EXPECT_THROW(models::make_task("recall", cross), std::invalid_argument);
  EXPECT_THROW(models::make_task("sense", cross), std::invalid_argument);
  // An untrained model sits at chance: its predictions on 4096 rows are right about 1/8 of the time.
  ad::Rng rng(0);
  models::AttentionConfig a;
  a.d_model = 32, a.d_k = 4, a.d_v = 8, a.d_out = 8;
  models::Attention model(a, rng);
  models::TaskConfig big = lookup_config(5);
  big.batch = 1024;
  auto fresh = models::make_task("lookup", big);
  models::Batch b;
  fresh->next_batch(b);
  ad::Tape tape;
  const auto nodes = model.forward(tape, tape.constant(b.x), tape.constant(b.x_context), b.batch);
  EXPECT_NEAR(models::Task::accuracy(nodes.output.value(), b.labels), 0.125, 0.03);
}

// Trains cross-attention on lookup for `steps` steps; with `uniform` W^Q is held at zero, so every score is
// 0 and every decoder row averages its whole encoder sequence. Returns the accuracy on 8 fresh batches of a
// task with another seed (never trained on).
double held_out_accuracy(bool uniform, long steps) {
  const models::TaskConfig c = lookup_config(1);
  ad::Rng rng(3);
  models::AttentionConfig a;
  a.d_model = c.d_model, a.d_k = c.d_k, a.d_v = c.d_v, a.d_out = 8, a.scale = models::ScaleMode::Sqrt;
  models::Attention model(a, rng);
  auto task = models::make_task("lookup", c);
  ad::Adam adam(1e-2);
  sbx::TrainingStep step(model, *task, adam);
  ad::Parameter& w_q = *model.find("W_Q");
  for (long t = 0; t < steps; ++t) {
    if (uniform) w_q.value.setZero();
    step.run(/*measure=*/false);
  }
  if (uniform) w_q.value.setZero();
  auto held_out = models::make_task("lookup", lookup_config(77));
  sbx::TrainingStep evaluate(model, *held_out, adam);
  double accuracy = 0.0;
  for (int i = 0; i < 8; ++i) {
    evaluate.run(/*measure=*/true, /*update=*/false);
    accuracy += evaluate.measurement().accuracy / 8.0;
  }
  return accuracy;
}

TEST(LookupTask, SqrtAtSmallDkLearnsItWithinAFewHundredSteps) {
  EXPECT_GE(held_out_accuracy(/*uniform=*/false, 300), 0.95);
}

// Without attention to the right encoder position the task cannot be done: with uniform weights a decoder
// row's output is the same for every row of its sequence, so at best it names the commonest value of the
// encoder sequence; here (8 positions, 8 values, each value once) that is chance, 1/8.
TEST(LookupTask, UniformAttentionStaysNearChance) {
  EXPECT_LT(held_out_accuracy(/*uniform=*/true, 300), 0.18);
}

// The same through sbx::train_run: --model cross --task lookup, attributes and series.
TEST(LookupTask, TrainRunRecordsModelContextAndTaskAttributes) {
  sbx::RunConfig config;
  config.task = "lookup";
  config.model = "cross";
  config.context_len = 8;
  config.seq_len = 4;
  config.d_model = 32;
  config.d_k = 4;
  config.d_v = 4;
  config.heads = 2;
  config.batch = 16;
  config.steps = 5;
  const sbx::RunOutcome out = sbx::train_run(config, [] { return false; });
  ASSERT_EQ(out.status, sbx::RunStatus::Complete) << out.message;
  const auto& r = out.record;
  EXPECT_EQ(std::get<std::string>(*r.get("model")), "cross");
  EXPECT_EQ(std::get<int64_t>(*r.get("context_len")), 8);
  EXPECT_EQ(std::get<int64_t>(*r.get("heads")), 2);
  EXPECT_DOUBLE_EQ(std::get<double>(*r.get("chance_accuracy")), 0.125);
  const double gradcheck = std::get<double>(*r.get("gradcheck_max_error"));
  EXPECT_TRUE(gradcheck < 1e-6) << gradcheck;
  std::set<std::string> series;
  for (const auto& [k, v] : r.series) series.insert(k);
  for (const char* k : {"accuracy", "q_grad/median", "q_grad/mean", "logit_max_abs", "head0/saturated_fraction",
                        "head1/saturated_fraction", "head0/attn_entropy", "head1/attn_entropy"})
    EXPECT_TRUE(series.count(k)) << k;
  EXPECT_FALSE(series.count("head2/saturated_fraction"));
  EXPECT_EQ(r.params_init[0].second.cols(), 8);  // W_Q: d_model × h·d_k
}

}  // namespace
