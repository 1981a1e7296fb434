// Tests of the toy tasks (models/tasks.*): determinism, shapes, what each task asks for, and that a
// small model trained through sbx::train_run actually learns the classification tasks.
//
// The teacher's weights and the recall embeddings are not exposed by the public API. The tests that need
// them rebuild them with the same seed logic as models/tasks.cpp (teacher: Rng(seed·2 + 0x7eac4e50) drawn
// into an Attention of the student's shapes with scale sqrt; recall: Rng(0x5eca11) drawn into the key,
// value and query-marker embeddings, in that order). If that logic changes, these tests must follow.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "autodiff/op_table.hpp"
#include "experiments/src/train/trainer.hpp"
#include "models/attention.hpp"
#include "models/tasks.hpp"

namespace {

using ad::Matrix;
using models::Batch;
using models::TaskConfig;

TaskConfig small_config(uint64_t seed) {
  TaskConfig c;
  c.d_model = 12;
  c.d_k = 5;
  c.d_v = 7;
  c.d_out = 0;
  c.seq_len = 6;
  c.batch = 9;
  c.seed = seed;
  return c;
}

// The small configuration a task accepts: lookup is cross-attention, so it gets an encoder of its own
// length (different from seq_len); text reads the project's README (the others ignore the corpus).
TaskConfig config_for(const std::string& name, uint64_t seed) {
  TaskConfig c = small_config(seed);
  if (name == "lookup") c.context_len = 4;
  c.text = std::string(SANDBOX_SOURCE_DIR) + "/README.md";
  return c;
}

// The model's input: vectors (x), or tokens for a task whose model embeds them (text).
bool same_input(const Batch& a, const Batch& b) { return a.x == b.x && a.tokens == b.tokens; }

bool same_batch(const Batch& a, const Batch& b) {
  return a.batch == b.batch && a.seq_len == b.seq_len && a.x.rows() == b.x.rows() && a.x.cols() == b.x.cols() &&
         a.x == b.x && a.targets.rows() == b.targets.rows() && a.targets.cols() == b.targets.cols() &&
         (a.targets.size() == 0 || a.targets == b.targets) && a.labels == b.labels && a.context_len == b.context_len &&
         a.x_context.rows() == b.x_context.rows() && (a.x_context.size() == 0 || a.x_context == b.x_context) &&
         a.tokens == b.tokens;
}

// Rows of a batch that carry a label, per sequence.
std::vector<std::vector<Eigen::Index>> labelled_rows(const Batch& b) {
  std::vector<std::vector<Eigen::Index>> rows(static_cast<size_t>(b.batch));
  for (Eigen::Index r = 0; r < b.batch * b.seq_len; ++r)
    if (b.labels[static_cast<size_t>(r)] >= 0) rows[static_cast<size_t>(r / b.seq_len)].push_back(r % b.seq_len);
  return rows;
}

// ---- Every task -----------------------------------------------------------------------------------------

class EveryTask : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryTask, DeterministicGivenSeedAndDifferentAcrossSeeds) {
  const std::string name = GetParam();
  auto a = models::make_task(name, config_for(name, 3));
  auto b = models::make_task(name, config_for(name, 3));
  auto c = models::make_task(name, config_for(name, 4));
  for (int i = 0; i < 4; ++i) {
    Batch ba, bb, bc;
    a->next_batch(ba);
    b->next_batch(bb);
    c->next_batch(bc);
    EXPECT_TRUE(same_batch(ba, bb)) << name << ": batch " << i << " differs between two tasks of the same seed";
    EXPECT_FALSE(same_input(ba, bc)) << name << ": batch " << i << " is the same for seeds 3 and 4";
  }
  // Consecutive batches of one task differ.
  Batch first, second;
  auto d = models::make_task(name, config_for(name, 3));
  d->next_batch(first);
  d->next_batch(second);
  EXPECT_FALSE(same_input(first, second)) << name << ": two consecutive batches are equal";
}

TEST_P(EveryTask, BatchShapes) {
  const std::string name = GetParam();
  for (const Eigen::Index d_out : {Eigen::Index{0}, Eigen::Index{2}}) {
    TaskConfig config = config_for(name, 1);
    config.d_out = d_out;
    auto task = models::make_task(name, config);
    EXPECT_EQ(task->name(), name);
    EXPECT_EQ(task->output_width(), models::task_output_width(name, config) > 0 ? models::task_output_width(name, config)
                                                                                 : config.d_v)
        << name << " d_out " << d_out;
    Batch b;
    task->next_batch(b);
    EXPECT_EQ(b.batch, config.batch);
    EXPECT_EQ(b.seq_len, config.seq_len);
    if (b.tokens.empty()) {
      EXPECT_EQ(b.x.rows(), config.batch * config.seq_len);
      EXPECT_EQ(b.x.cols(), config.d_model);
      EXPECT_TRUE(b.x.allFinite());
    } else {  // a task whose model embeds tokens: one per row, in the vocabulary, and no vectors
      EXPECT_EQ(b.tokens.size(), static_cast<size_t>(config.batch * config.seq_len));
      for (const int t : b.tokens) {
        EXPECT_GE(t, 0);
        EXPECT_LT(t, task->output_width());
      }
      EXPECT_EQ(b.x.size(), 0);
    }
    if (task->classifies()) {
      EXPECT_EQ(b.labels.size(), static_cast<size_t>(config.batch * config.seq_len));
      for (int label : b.labels) {
        EXPECT_GE(label, -1);
        EXPECT_LT(label, task->output_width());
      }
    } else {
      EXPECT_EQ(b.targets.rows(), config.batch * config.seq_len);
      EXPECT_EQ(b.targets.cols(), task->output_width());
      EXPECT_TRUE(b.targets.allFinite());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Tasks, EveryTask, ::testing::ValuesIn(models::task_names()));

TEST(Tasks, NamesAndWidthsAndBadConfigurations) {
  EXPECT_EQ(models::task_names(), (std::vector<std::string>{"teacher", "recall", "sense", "lookup", "text"}));
  TaskConfig c = small_config(0);
  EXPECT_EQ(models::task_output_width("teacher", c), 0);
  EXPECT_EQ(models::task_output_width("recall", c), 8);
  EXPECT_EQ(models::task_output_width("sense", c), 2);
  c.d_out = 5;
  EXPECT_EQ(models::task_output_width("teacher", c), 5);
  EXPECT_EQ(models::task_output_width("recall", c), 5);
  EXPECT_THROW(models::make_task("sense", c), std::invalid_argument);  // sense has 2 classes
  EXPECT_THROW(models::make_task("nope", c), std::invalid_argument);
  EXPECT_THROW(models::task_output_width("nope", c), std::invalid_argument);
  c.d_out = 0;
  c.seq_len = 1;
  EXPECT_THROW(models::make_task("recall", c), std::invalid_argument);
  EXPECT_THROW(models::make_task("sense", c), std::invalid_argument);
}

// ---- teacher --------------------------------------------------------------------------------------------

models::AttentionConfig teacher_shapes(const TaskConfig& c) {
  models::AttentionConfig a;
  a.d_model = c.d_model;
  a.d_k = c.d_k;
  a.d_v = c.d_v;
  a.d_out = c.d_out;
  a.causal = c.causal;
  a.scale = models::ScaleMode::Sqrt;
  return a;
}

TEST(TeacherTask, TargetsAreASqrtScaledAttentionLayerAndZeroLossIsReachable) {
  for (const bool causal : {false, true}) {
    for (const Eigen::Index d_out : {Eigen::Index{0}, Eigen::Index{4}}) {
      TaskConfig config = small_config(7);
      config.causal = causal;
      config.d_out = d_out;
      auto task = models::make_task("teacher", config);
      ASSERT_FALSE(task->classifies());
      // The student initialised with the teacher's weights (same seed logic as TeacherTask).
      ad::Rng teacher_rng(config.seed * 2 + 0x7eac4e50ULL);
      models::Attention student(teacher_shapes(config), teacher_rng);
      ad::Rng other_rng(99);
      models::Attention stranger(teacher_shapes(config), other_rng);
      for (int i = 0; i < 3; ++i) {
        Batch b;
        task->next_batch(b);
        ad::Tape tape;
        const auto nodes = student.forward(tape, tape.constant(b.x), b.batch);
        EXPECT_EQ(nodes.output.value(), b.targets) << "causal " << causal << " d_out " << d_out;
        const ad::Var loss = task->loss(tape, nodes.output, b);
        EXPECT_EQ(loss.value()(0, 0), 0.0) << "causal " << causal << " d_out " << d_out;
        // Any other model has a positive loss: zero is not a trivial outcome.
        ad::Tape tape2;
        const auto other = stranger.forward(tape2, tape2.constant(b.x), b.batch);
        EXPECT_GT(task->loss(tape2, other.output, b).value()(0, 0), 1e-6);
      }
    }
  }
}

// A temperature T divides the teacher's logits: its targets are those of the same sqrt-scaled layer with
// W^Q/T, the inputs are the same draws whatever T is, and T = 1 is the default teacher bit for bit.
TEST(TeacherTask, TemperatureDividesTheTeachersLogits) {
  TaskConfig config = small_config(5);
  auto plain = models::make_task("teacher", config);
  config.teacher_temperature = 0.25;
  auto sharp = models::make_task("teacher", config);
  ad::Rng teacher_rng(config.seed * 2 + 0x7eac4e50ULL);
  models::Attention reference(teacher_shapes(config), teacher_rng);
  reference.parameters().front()->value /= 0.25;
  for (int i = 0; i < 2; ++i) {
    Batch p, b;
    plain->next_batch(p);
    sharp->next_batch(b);
    EXPECT_EQ(p.x, b.x);
    ad::Tape tape;
    const auto nodes = reference.forward(tape, tape.constant(b.x), b.batch);
    EXPECT_LT((nodes.output.value() - b.targets).cwiseAbs().maxCoeff(), 1e-12);
    EXPECT_GT((p.targets - b.targets).cwiseAbs().maxCoeff(), 1e-3);
  }
}

TEST(TeacherTask, LossIsTheMeanSquaredError) {
  TaskConfig config = small_config(2);
  auto task = models::make_task("teacher", config);
  Batch b;
  task->next_batch(b);
  ad::Rng rng(4);
  const Matrix prediction = ad::random_normal(rng, b.targets.rows(), b.targets.cols());
  ad::Tape tape;
  const double loss = task->loss(tape, tape.constant(prediction), b).value()(0, 0);
  EXPECT_NEAR(loss, (prediction - b.targets).squaredNorm() / static_cast<double>(prediction.size()), 1e-12);
}

// ---- recall ---------------------------------------------------------------------------------------------

struct RecallEmbeddings {
  Matrix keys, values, marker;
};

// The same draws as RecallTask's constructor.
RecallEmbeddings recall_embeddings(const TaskConfig& c, Eigen::Index classes) {
  ad::Rng embed_rng(0x5eca11ULL);
  RecallEmbeddings e;
  const Eigen::Index keys = std::max<Eigen::Index>(2 * (c.seq_len - 1), 8);
  e.keys = ad::random_normal(embed_rng, keys, c.d_model);
  e.values = ad::random_normal(embed_rng, classes, c.d_model);
  e.marker = ad::random_normal(embed_rng, 1, c.d_model);
  return e;
}

TEST(RecallTask, OneLabelPerSequenceOnTheLastRow) {
  for (const uint64_t seed : {0u, 5u}) {
    TaskConfig config = small_config(seed);
    auto task = models::make_task("recall", config);
    ASSERT_TRUE(task->classifies());
    EXPECT_EQ(task->output_width(), 8);
    std::set<int> seen;
    for (int i = 0; i < 5; ++i) {
      Batch b;
      task->next_batch(b);
      const auto rows = labelled_rows(b);
      for (size_t s = 0; s < rows.size(); ++s) {
        ASSERT_EQ(rows[s].size(), 1u) << "sequence " << s << " has " << rows[s].size() << " labelled rows";
        EXPECT_EQ(rows[s][0], config.seq_len - 1) << "sequence " << s << ": the labelled row is not the last";
        const int label = b.labels[static_cast<size_t>(static_cast<Eigen::Index>(s) * config.seq_len + rows[s][0])];
        EXPECT_GE(label, 0);
        EXPECT_LT(label, 8);
        seen.insert(label);
      }
    }
    EXPECT_GE(seen.size(), 6u) << "45 labels drawn from 8 classes use fewer than 6 of them";
  }
}

// Decodes every row through the task's embeddings: pair rows are (key + value)/√2 with distinct keys, the
// last row is (asked key + query marker)/√2, and the label is the value paired with the asked key.
TEST(RecallTask, LabelIsTheValuePairedWithTheQueriedKey) {
  for (const Eigen::Index d_out : {Eigen::Index{0}, Eigen::Index{5}}) {
    TaskConfig config = small_config(11);
    config.d_out = d_out;
    auto task = models::make_task("recall", config);
    const Eigen::Index classes = task->output_width();
    const RecallEmbeddings e = recall_embeddings(config, classes);
    const double root2 = std::sqrt(2.0);
    int checked = 0;
    for (int i = 0; i < 4; ++i) {
      Batch b;
      task->next_batch(b);
      for (Eigen::Index s = 0; s < b.batch; ++s) {
        const Eigen::Index row0 = s * b.seq_len;
        std::vector<Eigen::Index> pair_key, pair_value;
        for (Eigen::Index p = 0; p + 1 < b.seq_len; ++p) {
          const Eigen::RowVectorXd token = b.x.row(row0 + p) * root2;
          double best = std::numeric_limits<double>::infinity();
          Eigen::Index best_k = -1, best_v = -1;
          for (Eigen::Index k = 0; k < e.keys.rows(); ++k)
            for (Eigen::Index v = 0; v < classes; ++v) {
              const double d = (token - e.keys.row(k) - e.values.row(v)).norm();
              if (d < best) best = d, best_k = k, best_v = v;
            }
          ASSERT_LT(best, 1e-9) << "pair row " << p << " of sequence " << s << " is not key + value";
          pair_key.push_back(best_k);
          pair_value.push_back(best_v);
        }
        EXPECT_EQ(std::set<Eigen::Index>(pair_key.begin(), pair_key.end()).size(), pair_key.size())
            << "keys repeat within sequence " << s;
        const Eigen::RowVectorXd asked = b.x.row(row0 + b.seq_len - 1) * root2 - e.marker;
        Eigen::Index asked_key = -1;
        for (Eigen::Index k = 0; k < e.keys.rows(); ++k)
          if ((asked - e.keys.row(k)).norm() < 1e-9) asked_key = k;
        ASSERT_GE(asked_key, 0) << "the query row of sequence " << s << " is not a key plus the marker";
        const auto at = std::find(pair_key.begin(), pair_key.end(), asked_key);
        ASSERT_NE(at, pair_key.end()) << "sequence " << s << " asks for a key it does not hold";
        const Eigen::Index expected = pair_value[static_cast<size_t>(at - pair_key.begin())];
        EXPECT_EQ(b.labels[static_cast<size_t>(row0 + b.seq_len - 1)], expected) << "sequence " << s;
        ++checked;
      }
    }
    EXPECT_EQ(checked, 4 * config.batch);
  }
}

TEST(RecallTask, LossIsCrossEntropyOnTheLabelledRowsOnly) {
  TaskConfig config = small_config(1);
  auto task = models::make_task("recall", config);
  Batch b;
  task->next_batch(b);
  ad::Rng rng(6);
  Matrix logits = ad::random_normal(rng, b.x.rows(), task->output_width());
  ad::Tape tape;
  const double loss = task->loss(tape, tape.constant(logits), b).value()(0, 0);
  double expected = 0.0;
  int count = 0;
  for (Eigen::Index r = 0; r < logits.rows(); ++r) {
    const int label = b.labels[static_cast<size_t>(r)];
    if (label < 0) continue;
    const double lse = std::log(logits.row(r).array().exp().sum());
    expected += lse - logits(r, label);
    ++count;
  }
  EXPECT_NEAR(loss, expected / count, 1e-12);
  // Unlabelled rows do not count: changing them leaves the loss alone.
  for (Eigen::Index r = 0; r < logits.rows(); ++r)
    if (b.labels[static_cast<size_t>(r)] < 0) logits.row(r).setConstant(1e3 * static_cast<double>(r % 3));
  ad::Tape tape2;
  EXPECT_NEAR(task->loss(tape2, tape2.constant(logits), b).value()(0, 0), loss, 1e-12);
}

TEST(Tasks, AccuracyCountsLabelledRowsOnly) {
  Matrix logits(4, 3);
  logits << 0, 5, 1,   // argmax 1
      9, 0, 0,         // argmax 0
      0, 0, 2,         // argmax 2
      3, 1, 0;         // argmax 0
  EXPECT_DOUBLE_EQ(models::Task::accuracy(logits, {1, -1, 0, 0}), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(models::Task::accuracy(logits, {-1, 0, 2, -1}), 1.0);
  EXPECT_DOUBLE_EQ(models::Task::accuracy(logits, {-1, -1, -1, -1}), 0.0);
}

// The mean of the last few logged accuracies (each is measured on one batch).
double final_accuracy(const sbx::RunOutcome& outcome, size_t last) {
  for (const auto& [key, values] : outcome.record.series)
    if (key == "accuracy") {
      if (values.size() < last) return -1.0;
      return std::accumulate(values.end() - static_cast<std::ptrdiff_t>(last), values.end(), 0.0) /
             static_cast<double>(last);
    }
  return -1.0;
}

TEST(RecallTask, TrainedModelIsWellAboveChance) {
  sbx::RunConfig config;
  config.task = "recall";
  config.d_model = 32;
  config.d_k = 16;
  config.d_v = 16;
  config.seq_len = 6;
  config.batch = 32;
  config.steps = 300;
  config.lr = 0.01;
  config.gradcheck = false;
  const sbx::RunOutcome outcome = sbx::train_run(config, [] { return false; });
  ASSERT_EQ(outcome.status, sbx::RunStatus::Complete) << outcome.message;
  const double accuracy = final_accuracy(outcome, 10);
  EXPECT_GT(accuracy, 0.5) << "recall accuracy after 300 steps (chance is 1/8)";
}

// ---- sense ----------------------------------------------------------------------------------------------

TEST(SenseTask, OneLabelPerSequenceOnTheAmbiguousTokenBalancedClasses) {
  for (const bool causal : {false, true}) {
    TaskConfig config = small_config(2);
    config.causal = causal;
    auto task = models::make_task("sense", config);
    ASSERT_TRUE(task->classifies());
    EXPECT_EQ(task->output_width(), 2);
    int ones = 0, total = 0;
    std::set<Eigen::Index> positions;
    Eigen::RowVectorXd ambiguous;
    for (int i = 0; i < 40; ++i) {
      Batch b;
      task->next_batch(b);
      const auto rows = labelled_rows(b);
      for (size_t s = 0; s < rows.size(); ++s) {
        ASSERT_EQ(rows[s].size(), 1u) << "sequence " << s << " has " << rows[s].size() << " labelled rows";
        const Eigen::Index row = static_cast<Eigen::Index>(s) * b.seq_len + rows[s][0];
        const int label = b.labels[static_cast<size_t>(row)];
        ASSERT_TRUE(label == 0 || label == 1);
        ones += label;
        ++total;
        positions.insert(rows[s][0]);
        if (causal) {
          EXPECT_EQ(rows[s][0], b.seq_len - 1) << "causal: the ambiguous token must come last";
        }
        // The labelled row is the ambiguous token, the same vector in every sequence, and it occurs once.
        if (ambiguous.size() == 0) ambiguous = b.x.row(row);
        EXPECT_EQ(b.x.row(row), ambiguous);
        for (Eigen::Index p = 0; p < b.seq_len; ++p) {
          if (p != rows[s][0]) {
            EXPECT_FALSE(b.x.row(static_cast<Eigen::Index>(s) * b.seq_len + p) == ambiguous);
          }
        }
      }
    }
    const double share = static_cast<double>(ones) / total;
    EXPECT_GT(share, 0.4) << "class 1 in " << ones << " of " << total;
    EXPECT_LT(share, 0.6) << "class 1 in " << ones << " of " << total;
    if (!causal) {
      EXPECT_EQ(positions.size(), static_cast<size_t>(config.seq_len)) << "the ambiguous token never moves";
    }
  }
}

TEST(SenseTask, TrainedModelIsAccurate) {
  sbx::RunConfig config;
  config.task = "sense";
  config.d_model = 16;
  config.d_k = 8;
  config.d_v = 8;
  config.seq_len = 8;
  config.batch = 32;
  config.steps = 300;
  config.lr = 0.01;
  config.gradcheck = false;
  const sbx::RunOutcome outcome = sbx::train_run(config, [] { return false; });
  ASSERT_EQ(outcome.status, sbx::RunStatus::Complete) << outcome.message;
  EXPECT_GT(final_accuracy(outcome, 10), 0.9) << "sense accuracy after 300 steps";
}

}  // namespace
