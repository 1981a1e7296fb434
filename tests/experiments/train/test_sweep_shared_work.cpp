// The speed work's unit tests: the sweep's shared gradient checks and batch streams, and the probe's
// logits-only forward (the run breakdown's test is in test_bench.cpp). That no logged number changed is tests/experiments/cli/logged_numbers_test.sh's job.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "experiments/src/train/batch_streams.hpp"
#include "models/task_registry.hpp"
#include "experiments/src/train/gradcheck_cache.hpp"
#include "experiments/src/train/trainer.hpp"
#include "models/attention.hpp"
#include "models/model_checks.hpp"

namespace {

sbx::RunConfig small_run(long d_k, const std::string& scale, long seed) {
  sbx::RunConfig c;
  c.d_model = 8, c.d_k = d_k, c.d_v = 4, c.seq_len = 5, c.batch = 3, c.steps = 3, c.scale = scale, c.seed = seed;
  c.eval_batches = 1;
  return c;
}

double gradcheck_error(const sbx::RunOutcome& out) { return std::get<double>(*out.record.get("gradcheck_max_error")); }

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

TEST(GradcheckCache, RunsThatDifferOnlyInDkShareOneCheckWithTheSameError) {
  sbx::GradcheckCache cache;
  sbx::RunHooks hooks;
  hooks.gradcheck_cache = &cache;
  const auto never = [] { return false; };
  const auto a = sbx::train_run(small_run(2, "learned", 1), never, nullptr, hooks);
  const auto b = sbx::train_run(small_run(16, "learned", 1), never, nullptr, hooks);
  EXPECT_EQ(cache.computed(), 1u);
  EXPECT_EQ(cache.reused(), 1u);
  // The shared answer is the one each run computes on its own.
  EXPECT_TRUE(same_bits(gradcheck_error(b), gradcheck_error(sbx::train_run(small_run(16, "learned", 1), never))));
  EXPECT_TRUE(same_bits(gradcheck_error(a), gradcheck_error(b)));
}

TEST(GradcheckCache, ADifferentSeedOrScaleIsADifferentCheck) {
  sbx::GradcheckCache cache;
  sbx::RunHooks hooks;
  hooks.gradcheck_cache = &cache;
  const auto never = [] { return false; };
  const auto a = sbx::train_run(small_run(4, "sqrt", 1), never, nullptr, hooks);
  const auto b = sbx::train_run(small_run(4, "sqrt", 2), never, nullptr, hooks);
  const auto c = sbx::train_run(small_run(4, "qknorm", 1), never, nullptr, hooks);
  EXPECT_EQ(cache.computed(), 3u);
  EXPECT_EQ(cache.reused(), 0u);
  EXPECT_FALSE(same_bits(gradcheck_error(a), gradcheck_error(b)));  // seeds draw different inputs
  EXPECT_FALSE(same_bits(gradcheck_error(a), gradcheck_error(c)));
}

TEST(AttentionLogitsOnly, GivesForwardsLogitsBitForBitInEveryForm) {
  for (const models::ModelCheck& check : models::model_checks()) {
    ad::Rng rng(5);
    models::AttentionConfig config = check.config;
    models::Attention model(config, rng);
    const ad::Matrix xq = ad::random_normal(rng, check.batch * check.n_query, config.d_model);
    const ad::Matrix xc = ad::random_normal(rng, check.batch * check.n_key, config.d_model);
    ad::Tape full, probe;
    const ad::Var fq = full.constant(xq), pq = probe.constant(xq);
    const ad::Var fc = check.cross ? full.constant(xc) : fq, pc = check.cross ? probe.constant(xc) : pq;
    const ad::Matrix want = model.forward(full, fq, fc, check.batch).logits.value();
    const ad::Matrix got = model.logits_only(probe, pq, pc, check.batch).logits.value();
    ASSERT_EQ(got.rows(), want.rows()) << check.name;
    ASSERT_EQ(got.cols(), want.cols()) << check.name;
    EXPECT_EQ(std::memcmp(got.data(), want.data(), sizeof(double) * static_cast<size_t>(got.size())), 0) << check.name;
  }
}

}  // namespace

namespace {

models::TaskConfig stream_config(long d_k, long heads) {
  models::TaskConfig c;
  c.d_model = 6, c.d_k = d_k, c.d_v = 3, c.seq_len = 5, c.batch = 2, c.heads = heads, c.seed = 7;
  return c;
}

bool same_batch(const models::Batch& a, const models::Batch& b) {
  auto same = [](const ad::Matrix& x, const ad::Matrix& y) {
    // memcmp of an empty matrix would pass it a null pointer (undefined, and UBSan says so)
    return x.rows() == y.rows() && x.cols() == y.cols() &&
           (x.size() == 0 || std::memcmp(x.data(), y.data(), sizeof(double) * static_cast<size_t>(x.size())) == 0);
  };
  return same(a.x, b.x) && same(a.x_context, b.x_context) && same(a.targets, b.targets) && a.labels == b.labels;
}

TEST(BatchStreams, ReplayGivesTheTasksOwnBatchesAndRecallSharesAcrossDk) {
  for (const std::string task : {"teacher", "recall", "sense"}) {
    sbx::BatchStreams streams;
    auto first = streams.task(models::task_entry(task), stream_config(2, 1), 6);
    auto second = streams.task(models::task_entry(task), stream_config(2, 1), 6);  // a second run of the same data
    auto own = models::make_task(task, stream_config(2, 1));
    ASSERT_TRUE(first && second) << task;
    EXPECT_EQ(first->name(), own->name());
    EXPECT_EQ(first->output_width(), own->output_width());
    models::Batch a, b, want;
    for (int i = 0; i < 6; ++i) {
      first->next_batch(a);
      if (i % 2 == 0) second->next_batch(b);  // runs may be at different steps of one stream
      own->next_batch(want);
      EXPECT_TRUE(same_batch(a, want)) << task << " batch " << i;
    }
  }
  // recall's data does not depend on d_k or heads: a run with other ones replays the same stream.
  sbx::BatchStreams streams;
  auto dk2 = streams.task(models::task_entry("recall"), stream_config(2, 1), 3);
  auto dk8 = streams.task(models::task_entry("recall"), stream_config(8, 2), 3);
  auto own = models::make_task("recall", stream_config(8, 2));
  models::Batch a, b, want;
  for (int i = 0; i < 3; ++i) {
    dk2->next_batch(a);
    dk8->next_batch(b);
    own->next_batch(want);
    EXPECT_TRUE(same_batch(a, want));
    EXPECT_TRUE(same_batch(b, want));
  }
}

TEST(BatchStreams, TheTeachersDataDependsOnDkAndARunTooLargeForTheBudgetGetsNone) {
  sbx::BatchStreams streams;
  auto dk2 = streams.task(models::task_entry("teacher"), stream_config(2, 1), 2);
  auto dk4 = streams.task(models::task_entry("teacher"), stream_config(4, 1), 2);
  models::Batch a, b;
  dk2->next_batch(a);
  dk4->next_batch(b);
  EXPECT_FALSE(same_batch(a, b));  // the teacher has the student's shapes: other targets
  sbx::BatchStreams tiny(4096);
  EXPECT_EQ(tiny.task(models::task_entry("teacher"), stream_config(2, 1), 1000), nullptr);
  EXPECT_TRUE(tiny.first_batches(models::task_entry("teacher"), stream_config(2, 1), 1000).empty());
}

TEST(BatchStreams, ASweepsRunsLogWhatTheyLogAlone) {
  // The whole run: streams and gradient checks shared between two scale modes of one seed.
  sbx::GradcheckCache cache;
  sbx::BatchStreams streams;
  sbx::RunHooks hooks;
  hooks.gradcheck_cache = &cache;
  hooks.batch_streams = &streams;
  for (const std::string task : {"teacher", "recall"})
    for (const std::string scale : {"sqrt", "none"}) {
      sbx::RunConfig c = small_run(4, scale, 3);
      c.task = task;
      auto shared = sbx::train_run(c, [] { return false; }, nullptr, hooks);
      const auto alone = sbx::train_run(c, [] { return false; });
      for (const auto& [name, values] : alone.record.series) {
        const std::vector<double>& got = shared.record.series_named(name);
        ASSERT_EQ(got.size(), values.size()) << name;
        EXPECT_EQ(std::memcmp(got.data(), values.data(), sizeof(double) * values.size()), 0) << task << " " << scale << " " << name;
      }
    }
}

}  // namespace
