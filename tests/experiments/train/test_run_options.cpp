// Tests of the option table and what is built on it (experiments/src/train/option_table.*, sweep grids,
// run identity, held-out evaluation): every option round-trips through the configuration text, grids
// are products of any options, names are unique, and the evaluation data is independent of the
// training data and of the model's settings.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "experiments/src/train/evaluation.hpp"
#include "models/task_registry.hpp"
#include "experiments/src/train/option_table.hpp"
#include "experiments/src/train/run_identity.hpp"
#include "experiments/src/train/sweep.hpp"
#include "experiments/src/train/trainer.hpp"
#include "experiments/src/user_error.hpp"

namespace {

using sbx::RunConfig;

RunConfig small_run() {
  RunConfig c;
  c.d_model = 12;
  c.d_k = 5;
  c.d_v = 7;
  c.seq_len = 6;
  c.batch = 4;
  c.steps = 6;
  c.seed = 3;
  c.gradcheck = false;
  return c;
}

// A configuration in which every option differs from its default (and is still valid).
RunConfig every_option_changed() {
  RunConfig c;
  c.task = "lookup";
  c.model = "cross";
  c.d_model = 10;
  c.heads = 2;
  c.d_k = 3;
  c.d_v = 5;
  c.d_out = 6;
  c.seq_len = 5;
  c.context_len = 7;
  c.scale = "learned";
  c.causal = true;
  c.init_std = 0.3;
  c.batch = 3;
  c.steps = 7;
  c.optimizer = "adamw";
  c.lr = 0.003;
  c.momentum = 0.5;
  c.beta1 = 0.8;
  c.beta2 = 0.99;
  c.eps = 1e-6;
  c.weight_decay = 0.1;
  c.warmup_steps = 2;
  c.schedule = "cosine";
  c.min_lr = 1e-4;
  c.clip_grad_norm = 1.5;
  c.lr_qk_mult = 0.25;
  c.diverge_factor = 1e6;
  c.teacher_temperature = 0.5;
  c.seed = 9;
  c.eval_batches = 2;
  c.eval_every = 3;
  c.log_every = 2;
  c.gradcheck = false;
  c.precision = "float32";
  c.save_weights = "final";
  c.layers = 3;  // the language model's (only the text is checked with these: validate() refuses them here)
  c.text = "corpus.txt";
  return c;
}

RunConfig from_text(const std::string& text) {
  RunConfig c;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find(" = ");
    const sbx::RunOption* option = sbx::find_run_option(line.substr(0, eq));
    EXPECT_NE(option, nullptr) << line;
    if (option) sbx::set_option(c, *option, line.substr(eq + 3));
  }
  return c;
}

TEST(OptionTable, EveryOptionRoundTripsThroughTheConfigurationText) {
  const RunConfig changed = every_option_changed();
  const std::string text = sbx::config_text(changed);
  const RunConfig back = from_text(text);
  EXPECT_EQ(sbx::config_text(back), text);
  // Each option of the table is a line of the text, and changing it changes the text: no option is
  // left out of the identity of a run.
  const RunConfig defaults;
  const std::string default_text = sbx::config_text(defaults);
  for (const sbx::RunOption& o : sbx::run_options()) {
    EXPECT_NE(text.find(std::string(o.key) + " = "), std::string::npos) << o.key;
    EXPECT_NE(sbx::option_text(changed.resolved(), o), sbx::option_text(defaults.resolved(), o))
        << o.key << ": every_option_changed() leaves it at its default";
    RunConfig one = defaults;
    sbx::set_option(one, o, sbx::option_text(changed, o));
    const auto difference = sbx::first_difference(sbx::config_text(one), default_text);
    ASSERT_TRUE(difference.has_value()) << o.key;
    EXPECT_EQ(difference->key, o.key);
  }
}

TEST(OptionTable, RealsKeepEveryBit) {
  RunConfig c;
  c.lr = 0.1 + 0.2;  // 0.30000000000000004
  c.init_std = 1.0 / 3.0;
  const RunConfig back = from_text(sbx::config_text(c));
  EXPECT_EQ(std::memcmp(&back.lr, &c.lr, sizeof c.lr), 0);
  EXPECT_EQ(back.init_std, c.init_std);
}

TEST(OptionTable, AutomaticValuesAreResolvedInTheText) {
  RunConfig c;
  c.d_model = 24;
  c.heads = 3;
  c.d_k = 0;   // auto
  c.d_v = -1;  // dk
  c.task = "recall";
  const std::string text = sbx::config_text(c);
  EXPECT_NE(text.find("dk = 8\n"), std::string::npos) << text;
  EXPECT_NE(text.find("dv = 8\n"), std::string::npos) << text;
  c.d_v = 0;  // auto
  c.d_k = 5;
  EXPECT_NE(sbx::config_text(c).find("dv = 8\n"), std::string::npos) << sbx::config_text(c);
  EXPECT_NE(text.find("d-out = 8\n"), std::string::npos) << text;
  const auto at = text.find("init-std = ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(std::stod(text.substr(at + 11)), 1.0 / std::sqrt(24.0)) << text;
  // Setting "auto" and "dk" by their words; the numbers that stand for them are refused as text.
  RunConfig d;
  sbx::set_option(d, *sbx::find_run_option("dk"), "auto");
  sbx::set_option(d, *sbx::find_run_option("dv"), "dk");
  EXPECT_EQ(d.d_k, 0);
  EXPECT_EQ(d.d_v, -1);
  sbx::set_option(d, *sbx::find_run_option("dv"), "auto");
  EXPECT_EQ(d.d_v, 0);
  EXPECT_THROW(sbx::set_option(d, *sbx::find_run_option("dk"), "0"), sbx::UserError);
  EXPECT_THROW(sbx::set_option(d, *sbx::find_run_option("dv"), "-1"), sbx::UserError);
}

TEST(OptionTable, BadValuesNameTheOption) {
  RunConfig c;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"lr", "fast"}, {"lr", "0.01x"}, {"steps", "1.5"}, {"dk", "many"}, {"causal", "maybe"}, {"seed", ""}, {"task", ""}};
  for (const auto& [key, value] : bad) {
    try {
      sbx::set_option(c, *sbx::find_run_option(key), value);
      ADD_FAILURE() << key << " = " << value << " was accepted";
    } catch (const sbx::UserError& e) {
      EXPECT_NE(std::string(e.what()).find("--" + key), std::string::npos) << e.what();
    }
  }
}

TEST(OptionTable, HashIsStableAndSensitive) {
  const std::string text = sbx::config_text(RunConfig{});
  EXPECT_EQ(sbx::config_hash(text), sbx::config_hash(text));
  EXPECT_EQ(sbx::config_hash(text).size(), 16u);
  EXPECT_EQ(sbx::config_hash(""), "cbf29ce484222325");  // FNV-1a's offset basis: the empty text
  RunConfig other;
  other.lr = 0.02;
  EXPECT_NE(sbx::config_hash(sbx::config_text(other)), sbx::config_hash(text));
}

TEST(OptionTable, NameTemplates) {
  RunConfig c;
  c.lr = 0.003;
  c.seed = 2;
  EXPECT_EQ(sbx::expand_name_template("{task}-dk{dk}-{scale}-lr{lr}-s{seed}", c), "teacher-dk16-sqrt-lr0.003-s2");
  EXPECT_EQ(sbx::expand_name_template("fixed", c), "fixed");
  EXPECT_EQ(sbx::expand_name_template("{d_model}", c), "64");  // attribute names work too
  for (const std::string bad : {"{nope}", "{lr", "lr}"}) EXPECT_THROW(sbx::expand_name_template(bad, c), sbx::UserError) << bad;
  for (const std::string& bad : std::vector<std::string>{"", "a/b", ".", "..", std::string(201, 'x'), "tab\there"})
    EXPECT_THROW(sbx::check_run_name(bad), sbx::UserError) << bad;
  EXPECT_NO_THROW(sbx::check_run_name(std::string(200, 'x')));
}

// ---- Grids ---------------------------------------------------------------------------------------------

TEST(SweepGrid, AnyOptionIsAnAxisAndTheGridIsTheirProduct) {
  sbx::SweepGrid grid;
  grid.base = small_run();
  grid.add_axis("seed", "0 1", "test");  // given out of table order on purpose
  grid.add_axis("lr", "0.001, 0.01 0.1", "test");
  grid.add_axis("causal", "false true", "test");
  grid.add_axis("d-model", "12", "test");  // one value: an axis that does not vary
  const auto runs = grid.expand();
  ASSERT_EQ(runs.size(), 12u);
  std::set<std::string> names;
  for (const RunConfig& r : runs) names.insert(r.run_name);
  EXPECT_EQ(names.size(), runs.size());
  // Table order, first axis outermost: causal (table position before lr) outermost, seed fastest.
  EXPECT_EQ(runs[0].run_name, "teacher-dk5-sqrt-causal0-lr0.001-seed0");
  EXPECT_EQ(runs[1].run_name, "teacher-dk5-sqrt-causal0-lr0.001-seed1");
  EXPECT_EQ(runs[2].run_name, "teacher-dk5-sqrt-causal0-lr0.01-seed0");
  EXPECT_EQ(runs[6].run_name, "teacher-dk5-sqrt-causal1-lr0.001-seed0");
  EXPECT_TRUE(runs[6].causal);
  EXPECT_EQ(runs[3].lr, 0.01);
  EXPECT_EQ(runs[11].seed, 1);
  for (const RunConfig& r : runs) EXPECT_EQ(r.d_model, 12);
}

TEST(SweepGrid, HeadsIsAnAxisAndDkAutoFollowsIt) {
  sbx::SweepGrid grid;
  grid.base = small_run();
  grid.base.d_k = 0;  // auto: d_model / heads
  grid.add_axis("heads", "1 2 3", "test");
  const auto runs = grid.expand();
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].run_name, "teacher-dk12-sqrt-heads1-seed3");
  EXPECT_EQ(runs[1].run_name, "teacher-dk6-sqrt-heads2-seed3");
  EXPECT_EQ(runs[2].run_name, "teacher-dk4-sqrt-heads3-seed3");
  EXPECT_EQ(runs[2].resolved().d_k, 4);
  EXPECT_NE(sbx::config_text(runs[2]).find("heads = 3\n"), std::string::npos);
}

TEST(SweepGrid, RefusesRepeatedValuesUnknownKeysAndCollidingNames) {
  sbx::SweepGrid grid;
  grid.base = small_run();
  EXPECT_THROW(grid.add_axis("lr", "0.01 1e-2", "test"), sbx::UserError);  // the same value twice
  EXPECT_THROW(grid.add_axis("dk", "4 4", "test"), sbx::UserError);
  EXPECT_THROW(grid.add_axis("nope", "1 2", "test"), sbx::UserError);
  EXPECT_THROW(grid.add_axis("lr", " ", "test"), sbx::UserError);
  EXPECT_THROW(grid.add_axis("lr", "0.1 fast", "test"), sbx::UserError);
  grid.add_axis("lr", "0.1 0.2", "test");
  EXPECT_THROW(grid.add_axis("lr", "0.3", "test"), sbx::UserError);  // an axis given twice
  grid.name_template = "{task}-{seed}";  // leaves lr out: two runs per name
  try {
    grid.expand();
    ADD_FAILURE() << "colliding names accepted";
  } catch (const sbx::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("{lr}"), std::string::npos) << e.what();
  }
}

// Several blocks: the sweep is their union, each block a product of its own; an option each block fixes to
// another value (the optimizer) joins the default names, so that they stay unique across blocks.
TEST(SweepGrid, BlocksAreUnitedAndTheirNamesStayApart) {
  sbx::SweepGrid grid;
  grid.base = small_run();
  grid.add_block("adam.ini:1");
  grid.add_axis("optimizer", "adam", "test");
  grid.add_axis("lr", "0.001 0.01", "test");
  grid.add_block("adam.ini:5");
  grid.add_axis("optimizer", "sgd", "test");
  grid.add_axis("lr", "0.01 0.1 1", "test");
  EXPECT_EQ(grid.size(), 5u);
  const auto runs = grid.expand();
  ASSERT_EQ(runs.size(), 5u);
  EXPECT_EQ(runs[0].run_name, "teacher-dk5-sqrt-optimizeradam-lr0.001-seed3");
  EXPECT_EQ(runs[1].run_name, "teacher-dk5-sqrt-optimizeradam-lr0.01-seed3");
  EXPECT_EQ(runs[2].run_name, "teacher-dk5-sqrt-optimizersgd-lr0.01-seed3");
  EXPECT_EQ(runs[4].run_name, "teacher-dk5-sqrt-optimizersgd-lr1-seed3");
  EXPECT_EQ(runs[4].optimizer, "sgd");
  EXPECT_EQ(runs[4].lr, 1.0);
  EXPECT_EQ(runs[1].optimizer, "adam");
  // Attribute spellings are the same options: d_model is d-model.
  grid.add_axis("d_model", "12", "test");
  EXPECT_EQ(grid.blocks.back().axes.front().key, "d-model");
  EXPECT_THROW(grid.add_axis("d-model", "16", "test"), sbx::UserError);  // the same option twice in one block
}

TEST(SweepGrid, TwoBlocksGivingOneRunAreRefusedNamingBoth) {
  sbx::SweepGrid grid;
  grid.base = small_run();
  grid.add_block("clash.ini:1");
  grid.add_axis("lr", "0.001 0.01", "test");
  grid.add_block("clash.ini:4");
  grid.add_axis("lr", "0.01 0.1", "test");
  try {
    grid.expand();
    ADD_FAILURE() << "a run given by two blocks was accepted";
  } catch (const sbx::UserError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("clash.ini:1"), std::string::npos) << what;
    EXPECT_NE(what.find("clash.ini:4"), std::string::npos) << what;
    EXPECT_NE(what.find("both give the run"), std::string::npos) << what;  // not only the name check
    EXPECT_NE(what.find("same configuration"), std::string::npos) << what;
  }
  // Names that collide across blocks with different configurations are named with both blocks too.
  sbx::SweepGrid named;
  named.base = small_run();
  named.name_template = "{task}-{lr}";
  named.add_block("a.ini:1");
  named.add_axis("lr", "0.01", "test");
  named.add_axis("optimizer", "adam", "test");
  named.add_block("a.ini:4");
  named.add_axis("lr", "0.01", "test");
  named.add_axis("optimizer", "sgd", "test");
  try {
    named.expand();
    ADD_FAILURE() << "two runs of one name accepted";
  } catch (const sbx::UserError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("a.ini:4"), std::string::npos) << what;
    EXPECT_NE(what.find("{optimizer}"), std::string::npos) << what;
  }
}

TEST(OptionTable, EverySpellingFindsOneOptionAndAnUnknownOneGetsTheClosest) {
  for (const sbx::RunOption& o : sbx::run_options()) {
    EXPECT_EQ(sbx::find_run_option(o.key), &o) << o.key;
    EXPECT_EQ(sbx::find_run_option(o.attr), &o) << o.attr;
    std::string underscored = o.key, dashed = o.attr;
    for (char& c : underscored) c = c == '-' ? '_' : c;
    for (char& c : dashed) c = c == '_' ? '-' : c;
    EXPECT_EQ(sbx::find_run_option(underscored), &o) << underscored;
    EXPECT_EQ(sbx::find_run_option(dashed), &o) << dashed;
  }
  EXPECT_EQ(sbx::find_run_option("optimiser"), nullptr);
  EXPECT_EQ(sbx::unknown_option_hint("optimiser"), " (did you mean 'optimizer'?)");
  EXPECT_EQ(sbx::unknown_option_hint("seq-lne"), " (did you mean 'seq-len'?)");
  EXPECT_EQ(sbx::unknown_option_hint("bogus"), "");
  EXPECT_NE(sbx::unknown_option_hint("threads").find("not a run option"), std::string::npos);
}

// ---- Identity ------------------------------------------------------------------------------------------

TEST(RunIdentity, TheFirstDifferingOptionIsNamedWithBothValues) {
  RunConfig a = small_run(), b = small_run();
  b.lr = 0.03;
  b.steps = 50;
  const sbx::io::StoredRun stored{"r", "complete", sbx::config_text(a)};
  EXPECT_FALSE(sbx::identity_conflict("f.h5", stored, sbx::config_text(a)).has_value());
  const auto conflict = sbx::identity_conflict("f.h5", stored, sbx::config_text(b));
  ASSERT_TRUE(conflict.has_value());
  // steps comes before lr in the table.
  EXPECT_NE(conflict->find("steps = 6, but this run has steps = 50"), std::string::npos) << *conflict;
  const sbx::io::StoredRun old{"r", "complete", ""};
  EXPECT_TRUE(sbx::identity_conflict("f.h5", old, sbx::config_text(a)).has_value());
}

// ---- Held-out evaluation -------------------------------------------------------------------------------

bool same_batches(const std::vector<models::Batch>& a, const std::vector<models::Batch>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].x != b[i].x || a[i].labels != b[i].labels || a[i].targets != b[i].targets ||
        a[i].x_context != b[i].x_context)
      return false;
  return true;
}

TEST(Evaluation, TheSetDependsOnTheSeedOnlyNotOnScaleOrLearningRate) {
  for (const std::string task : {"teacher", "recall", "sense", "lookup"}) {
    RunConfig a = small_run();
    a.task = task;
    if (task == "lookup") {
      a.model = "cross";
      a.context_len = 7;
    }
    RunConfig b = a;
    b.scale = "none";
    b.lr = 0.5;
    b.optimizer = "sgd";
    RunConfig other_seed = a;
    other_seed.seed = 4;
    const auto ra = a.resolved(), rb = b.resolved(), rs = other_seed.resolved();
    const models::TaskEntry& entry = models::task_entry(task);
    sbx::Evaluator ea(entry, ra.task_config(), 3), eb(entry, rb.task_config(), 3), es(entry, rs.task_config(), 3);
    EXPECT_TRUE(same_batches(ea.batches(), eb.batches())) << task << ": scale or lr changed the evaluation data";
    EXPECT_FALSE(same_batches(ea.batches(), es.batches())) << task << ": the seed did not change the evaluation data";
    // Independent of the training stream: no evaluation input row appears among the first training batches.
    auto training = models::make_task(task, ra.task_config());
    for (int t = 0; t < 3; ++t) {
      models::Batch batch;
      training->next_batch(batch);
      for (const models::Batch& e : ea.batches())
        for (Eigen::Index r = 0; r < e.x.rows(); ++r)
          for (Eigen::Index s = 0; s < batch.x.rows(); ++s)
            if (task == "teacher") {
              EXPECT_NE(e.x.row(r), batch.x.row(s)) << task << ": training row reused";
            }
      if (task != "teacher") {
        EXPECT_FALSE(same_batches({batch}, {ea.batches()[static_cast<size_t>(t)]})) << task;
      }
    }
  }
}

TEST(Evaluation, RunsRecordTheEvaluationAtTheStartEveryNStepsAndTheEnd) {
  RunConfig c = small_run();
  c.task = "recall";
  c.steps = 10;
  c.eval_every = 4;
  c.eval_batches = 2;
  const auto out = sbx::train_run(c, [] { return false; });
  ASSERT_EQ(out.status, sbx::RunStatus::Complete);
  const std::vector<std::int64_t>* steps = nullptr;
  for (const auto& [k, v] : out.record.int_series)
    if (k == "eval/step") steps = &v;
  ASSERT_NE(steps, nullptr);
  EXPECT_EQ(*steps, (std::vector<std::int64_t>{0, 4, 8, 10}));
  const std::vector<double>* loss = nullptr;
  const std::vector<double>* accuracy = nullptr;
  for (const auto& [k, v] : out.record.series) {
    if (k == "eval/loss") loss = &v;
    if (k == "eval/accuracy") accuracy = &v;
  }
  ASSERT_TRUE(loss && accuracy);
  EXPECT_EQ(loss->size(), 4u);
  EXPECT_EQ(accuracy->size(), 4u);
  // The last value is the evaluation of the final parameters: recompute it with a model holding them.
  ad::Rng rng(static_cast<uint64_t>(c.seed));
  const RunConfig r = c.resolved();
  models::Attention model(r.attention(), rng);
  for (const auto& [name, m] : out.record.params_final) model.find(name)->value = m;
  sbx::Evaluator evaluator(models::task_entry(r.task), r.task_config(), r.eval_batches);
  const sbx::EvalResult e = evaluator.evaluate(model);
  EXPECT_EQ(e.loss, loss->back());
  EXPECT_EQ(e.accuracy, accuracy->back());
  // And it is not the loss of a training batch.
  EXPECT_NE(loss->back(), out.record.series.front().second.back());
}

TEST(Evaluation, OnlyAtTheStartAndTheEndWhenEvalEveryIsZero) {
  RunConfig c = small_run();
  c.eval_every = 0;
  const auto out = sbx::train_run(c, [] { return false; });
  for (const auto& [k, v] : out.record.int_series)
    if (k == "eval/step") {
      EXPECT_EQ(v, (std::vector<std::int64_t>{0, 6}));
    }
}

TEST(Trainer, StoresItsWholeConfigurationAndItsHash) {
  RunConfig c = every_option_changed();
  c.layers = RunConfig().layers;  // the language model's options, which a cross-attention run refuses
  c.text = RunConfig().text;
  c.teacher_temperature = RunConfig().teacher_temperature;  // task teacher's, which a lookup run refuses
  const auto out = sbx::train_run(c, [] { return false; });
  const auto* text = out.record.get("config");
  const auto* hash = out.record.get("config_hash");
  ASSERT_TRUE(text && hash);
  EXPECT_EQ(std::get<std::string>(*text), sbx::config_text(c));
  EXPECT_EQ(std::get<std::string>(*hash), sbx::config_hash(sbx::config_text(c)));
  for (const sbx::RunOption& o : sbx::run_options()) EXPECT_NE(out.record.get(o.attr), nullptr) << o.attr;
  // Training again from the stored text gives the same run, bit for bit.
  const auto again = sbx::train_run(from_text(std::get<std::string>(*text)), [] { return false; });
  ASSERT_EQ(again.record.series.size(), out.record.series.size());
  for (size_t i = 0; i < out.record.series.size(); ++i) {
    const auto& [key, values] = out.record.series[i];
    const auto& other = again.record.series[i].second;
    ASSERT_EQ(values.size(), other.size()) << key;
    EXPECT_EQ(std::memcmp(values.data(), other.data(), values.size() * sizeof(double)), 0) << key;
  }
}

// ---- The optimizer settings reach the optimizer (their arithmetic: tests/autodiff/test_optim.cpp) ---------------

namespace optimizer_wiring {

const Eigen::MatrixXd& param(const sbx::io::RunRecord& r, const std::string& name, bool final) {
  for (const auto& [k, m] : final ? r.params_final : r.params_init)
    if (k == name) return m;
  throw std::runtime_error("no parameter " + name);
}

TEST(OptimizerWiring, TheLrSeriesFollowsWarmupThenCosine) {
  RunConfig c = small_run();
  c.lr = 0.1;
  c.min_lr = 0.01;
  c.warmup_steps = 2;
  c.schedule = "cosine";
  c.optimizer = "sgd";
  const auto out = sbx::train_run(c, [] { return false; });
  std::vector<double> lr;
  for (const auto& [k, v] : out.record.series)
    if (k == "lr") lr = v;
  // t < 2: 0.1·(t+1)/2; then from 0.1 at t = 2 to 0.01 at t = 5 along half a cosine.
  const double pi = std::acos(-1.0);
  const std::vector<double> want = {0.05, 0.1, 0.1, 0.01 + 0.09 * (1 + std::cos(pi / 3)) / 2,
                                    0.01 + 0.09 * (1 + std::cos(2 * pi / 3)) / 2, 0.01};
  ASSERT_EQ(lr.size(), want.size());
  for (size_t t = 0; t < want.size(); ++t) EXPECT_NEAR(lr[t], want[t], 1e-15) << "step " << t;
}

// After one Adam step every entry moves by lr·mult·g/(|g| + ε) ≈ lr·mult: the query/key multiplier shows
// in the largest move of W_Q and W_K against W_V's.
TEST(OptimizerWiring, LrQkMultScalesOnlyTheQueryAndKeyProjections) {
  RunConfig c = small_run();
  c.steps = 1;
  c.lr = 0.01;
  c.lr_qk_mult = 0.25;
  const auto out = sbx::train_run(c, [] { return false; });
  auto moved = [&](const char* name) { return (param(out.record, name, true) - param(out.record, name, false)).cwiseAbs().maxCoeff(); };
  EXPECT_NEAR(moved("W_Q"), 0.0025, 1e-6);
  EXPECT_NEAR(moved("W_K"), 0.0025, 1e-6);
  EXPECT_NEAR(moved("W_V"), 0.01, 1e-6);
}

// One SGD step without momentum moves the parameters by lr·g·(max_norm/N) when N > max_norm: the whole
// move has norm lr·max_norm.
TEST(OptimizerWiring, ClippingBoundsTheWholeUpdate) {
  RunConfig c = small_run();
  c.steps = 1;
  c.optimizer = "sgd";
  c.momentum = 0.0;
  c.lr = 0.5;
  c.clip_grad_norm = 1e-3;
  const auto out = sbx::train_run(c, [] { return false; });
  double squared = 0.0;
  for (const auto& [name, m] : out.record.params_final) squared += (m - param(out.record, name, false)).squaredNorm();
  EXPECT_NEAR(std::sqrt(squared), 0.5 * 1e-3, 1e-15);
}

// AdamW's decay is decoupled: after one step, AdamW(wd) − Adam(wd = 0) = −lr·wd·p₀ exactly (up to
// rounding), while Adam(wd) (L2 in the gradient) moves differently.
TEST(OptimizerWiring, AdamWDecaysDecoupledAdamCoupled) {
  RunConfig plain = small_run();
  plain.steps = 1;
  plain.lr = 0.01;
  RunConfig adamw = plain, adam_l2 = plain;
  adamw.optimizer = "adamw";
  adamw.weight_decay = 0.5;
  adam_l2.weight_decay = 0.5;
  const auto a = sbx::train_run(plain, [] { return false; });
  const auto w = sbx::train_run(adamw, [] { return false; });
  const auto l = sbx::train_run(adam_l2, [] { return false; });
  const Eigen::MatrixXd& p0 = param(a.record, "W_V", false);
  const Eigen::MatrixXd decay = param(w.record, "W_V", true) - param(a.record, "W_V", true);
  EXPECT_LT((decay + 0.01 * 0.5 * p0).cwiseAbs().maxCoeff(), 1e-15);
  EXPECT_GT((param(l.record, "W_V", true) - param(w.record, "W_V", true)).cwiseAbs().maxCoeff(), 1e-6);
}

}  // namespace optimizer_wiring

}  // namespace
