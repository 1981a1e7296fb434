// The registries of tasks, scale modes and models: every entry is complete and consistent with what it
// makes, a task's stream identity drops only fields its batches do not read, and the CLI's lists of
// choices read as they always have.
#include <gtest/gtest.h>

#include <stdexcept>

#include "models/model_registry.hpp"
#include "models/scale_modes.hpp"
#include "models/task_registry.hpp"

namespace {

models::TaskConfig config_for(const models::TaskEntry& entry) {
  models::TaskConfig c;
  c.d_model = 6, c.d_k = 3, c.d_v = 2, c.seq_len = 5, c.batch = 3, c.seed = 4;
  c.text = std::string(SANDBOX_SOURCE_DIR) + "/README.md";  // task text's corpus (the others ignore it)
  const models::ModelEntry* model = models::find_model(entry.models.front());
  if (model != nullptr && model->cross) c.context_len = 4;
  return c;
}

bool same_identity(const models::TaskConfig& a, const models::TaskConfig& b) {
  return a.d_model == b.d_model && a.d_k == b.d_k && a.d_v == b.d_v && a.d_out == b.d_out && a.seq_len == b.seq_len &&
         a.batch == b.batch && a.heads == b.heads && a.context_len == b.context_len && a.causal == b.causal &&
         a.seed == b.seed && a.stream == b.stream;
}

bool same_batch(const models::Batch& a, const models::Batch& b) {
  return a.x == b.x && a.x_context == b.x_context && a.targets == b.targets && a.labels == b.labels && a.tokens == b.tokens;
}

TEST(TaskRegistry, EveryEntryMakesTheTaskItNamesForModelsThatExist) {
  ASSERT_FALSE(models::task_entries().empty());
  for (const models::TaskEntry& entry : models::task_entries()) {
    ASSERT_FALSE(entry.models.empty()) << entry.name;
    for (const std::string& model : entry.models) EXPECT_NE(models::find_model(model), nullptr) << entry.name << ": " << model;
    if (entry.models.size() < models::model_entries().size()) {
      EXPECT_FALSE(entry.wrong_model_error.empty()) << entry.name;
    }
    const models::TaskConfig c = config_for(entry);
    EXPECT_EQ(entry.check(c), "") << entry.name;
    const auto task = entry.make(c);
    EXPECT_EQ(task->name(), entry.name);
    const Eigen::Index width = entry.output_width(c);
    if (width > 0) {  // 0: the teacher without W^O
      EXPECT_EQ(task->output_width(), width) << entry.name;
    }
    EXPECT_EQ(models::find_task(entry.name), &entry);
  }
  EXPECT_EQ(models::find_task("no such task"), nullptr);
  EXPECT_THROW(models::task_entry("no such task"), std::invalid_argument);
}

TEST(TaskRegistry, RefusesASecondTaskOfTheSameName) {
  models::TaskEntry again = models::task_entry("recall");
  const size_t before = models::task_entries().size();
  EXPECT_THROW(models::register_task(again), std::logic_error);
  EXPECT_EQ(models::task_entries().size(), before);
}

// Two configurations one field apart whose stream identities are equal must draw equal batches: a sweep
// shares their stream.
TEST(TaskRegistry, StreamIdentityDropsOnlyFieldsTheBatchesDoNotRead) {
  for (const models::TaskEntry& entry : models::task_entries()) {
    const models::TaskConfig base = config_for(entry);
    std::vector<models::TaskConfig> variants(5, base);
    variants[0].d_k = 5;
    variants[1].d_v = 3;
    variants[2].heads = 2;
    variants[3].causal = true;
    variants[4].d_out = 2;
    int shared = 0;
    for (const models::TaskConfig& other : variants) {
      if (!same_identity(entry.stream_identity(base), entry.stream_identity(other))) continue;
      ++shared;
      auto a = entry.make(base), b = entry.make(other);
      models::Batch batch_a, batch_b;
      for (int i = 0; i < 2; ++i) {
        a->next_batch(batch_a);
        b->next_batch(batch_b);
        EXPECT_TRUE(same_batch(batch_a, batch_b)) << entry.name << ": a field its stream identity drops changed batch " << i;
      }
    }
    // Only a task whose batches read the model's shapes (the teacher) shares nothing.
    if (!same_identity(entry.stream_identity(base), base)) {
      EXPECT_GT(shared, 0) << entry.name;
    }
  }
}

TEST(ScaleModes, EachModeIsAFixedFactorOrALearnedScale) {
  ASSERT_EQ(models::scale_modes().size(), models::scale_names().size());
  for (const models::ScaleMode mode : models::scale_modes()) {
    const models::ScaleRule& rule = mode.rule();
    EXPECT_NE(rule.fixed_factor == nullptr, rule.initial_log_scale == nullptr) << rule.name;
    EXPECT_EQ(models::has_learned_scale(mode), rule.fixed_factor == nullptr) << rule.name;
    EXPECT_EQ(models::parse_scale(rule.name), mode) << rule.name;
    if (rule.fixed_factor != nullptr) {
      EXPECT_GT(rule.fixed_factor(16.0), 0.0) << rule.name;
      EXPECT_STRNE(rule.study_label, "") << rule.name;
    }
  }
  EXPECT_THROW(models::parse_scale("cubic"), std::invalid_argument);
}

// The CLI's help and messages list the registered choices; with the built-in entries they read as before, with
// the language model and its task after the others.
TEST(Registries, ChoicesReadAsTheCliHasAlwaysShownThem) {
  EXPECT_EQ(models::task_choices_help(), "teacher, recall or sense; lookup with --model cross; text with --model lm");
  EXPECT_EQ(models::model_choices(), "self_attention, cross or lm");
  EXPECT_EQ(models::model_choices_help(),
            "self_attention, cross: queries from the decoder sequence, keys and values from an encoder sequence, or "
            "lm: a pre-LayerNorm transformer of --layers causal blocks over the characters of --text (task text)");
  EXPECT_EQ(models::scale_choices_help(), "none, sqrt (1/sqrt d_k), linear (1/d_k), learned or qknorm");
  try {
    models::task_entry("nope");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "unknown task 'nope' (choose teacher, recall, sense, lookup or text)");
  }
}

}  // namespace
