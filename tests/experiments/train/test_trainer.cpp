// Tests of the trainer (experiments/src/train/trainer.*, training_step.*): what a run records, when it
// logs, that the logged numbers are the ones a separate forward/backward gives, divergence and stopping,
// and determinism.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "autodiff/optim.hpp"
#include "experiments/src/io/h5_store.hpp"
#include "experiments/src/io/run_file.hpp"
#include "experiments/src/train/sweep.hpp"
#include "experiments/src/train/trainer.hpp"
#include "experiments/src/train/training_step.hpp"
#include "experiments/src/user_error.hpp"
#include "models/attention.hpp"
#include "models/attention_metrics.hpp"
#include "models/tasks.hpp"
#include "tests/support/test_support.hpp"

namespace {

using ad::Matrix;
using sbx::RunConfig;
using sbx::RunOutcome;
using sbx::RunStatus;

RunConfig small_run(const std::string& task = "teacher", const std::string& scale = "sqrt") {
  RunConfig c;
  c.task = task;
  c.scale = scale;
  c.d_model = 12;
  c.d_k = 5;
  c.d_v = 7;
  c.seq_len = 6;
  c.batch = 4;
  c.steps = 12;
  c.lr = 0.01;
  c.seed = 3;
  return c;
}

const std::vector<double>* find_series(const sbx::io::RunRecord& r, const std::string& key) {
  for (const auto& [k, v] : r.series)
    if (k == key) return &v;
  return nullptr;
}

const std::vector<double>& series(const sbx::io::RunRecord& r, const std::string& key) {
  static const std::vector<double> empty;
  const auto* s = find_series(r, key);
  EXPECT_NE(s, nullptr) << "no series " << key;
  return s ? *s : empty;
}

std::string string_attr(const sbx::io::RunRecord& r, const std::string& key) {
  const auto* v = r.get(key);
  return v && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v) : "<missing>";
}

bool bitwise_equal(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

RunOutcome run(const RunConfig& c) { return sbx::train_run(c, [] { return false; }); }

// ---- What a run records ---------------------------------------------------------------------------------

TEST(Trainer, RecordsEverySeriesWithEqualLengths) {
  struct Case {
    std::string task, scale;
    long d_out;
    std::vector<std::string> params;
    bool classifies;
  };
  const std::vector<Case> cases = {
      {"teacher", "sqrt", 0, {"W_Q", "W_K", "W_V"}, false},
      {"teacher", "learned", 3, {"W_Q", "W_K", "W_V", "W_O", "scale"}, false},
      {"recall", "qknorm", 0, {"W_Q", "W_K", "W_V", "W_O", "scale"}, true},
      {"sense", "none", 0, {"W_Q", "W_K", "W_V", "W_O"}, true},
  };
  for (const Case& c : cases) {
    RunConfig config = small_run(c.task, c.scale);
    config.d_out = c.d_out;
    const RunOutcome out = run(config);
    ASSERT_EQ(out.status, RunStatus::Complete) << c.task << ": " << out.message;
    const auto& r = out.record;
    std::vector<std::string> expected;
    for (const auto& p : c.params) expected.push_back("grad_norm/" + p);
    for (const char* k : {"loss", "logit_grad/mean", "logit_grad/median", "saturated_fraction", "attn_entropy",
                          "attn_max", "logit_std"})
      expected.push_back(k);
    if (c.classifies) expected.push_back("accuracy");
    for (const char* k : {"logit_max_abs", "q_grad/mean", "q_grad/median", "logit_grad/zero_fraction",
                          "top_weight_one_fraction", "logit_delta_rms"})
      expected.push_back(k);
    expected.push_back("lr");
    if (c.scale == "learned" || c.scale == "qknorm") expected.push_back("scale");
    expected.push_back("eval/loss");
    if (c.classifies) expected.push_back("eval/accuracy");
    std::vector<std::string> got;
    for (const auto& [k, v] : r.series) got.push_back(k);
    EXPECT_EQ(got, expected) << c.task << "/" << c.scale;
    EXPECT_EQ(r.steps.size(), static_cast<size_t>(config.steps)) << c.task;
    for (const auto& [k, v] : r.series) {
      if (k.rfind("eval/", 0) == 0) continue;  // on the evaluation's own clock (tests/experiments/train/test_run_options.cpp)
      EXPECT_EQ(v.size(), r.steps.size()) << c.task << ": series " << k;
      for (double x : v) EXPECT_TRUE(std::isfinite(x)) << c.task << ": series " << k;
    }
    // Parameters before and after, in model order, with the model's shapes; training moved them.
    ASSERT_EQ(r.params_init.size(), c.params.size());
    ASSERT_EQ(r.params_final.size(), c.params.size());
    for (size_t i = 0; i < c.params.size(); ++i) {
      EXPECT_EQ(r.params_init[i].first, c.params[i]);
      EXPECT_EQ(r.params_final[i].first, c.params[i]);
      EXPECT_EQ(r.params_init[i].second.rows(), r.params_final[i].second.rows());
      EXPECT_EQ(r.params_init[i].second.cols(), r.params_final[i].second.cols());
      EXPECT_FALSE(r.params_init[i].second == r.params_final[i].second) << c.task << ": " << c.params[i] << " did not move";
    }
    EXPECT_EQ(r.params_init[0].second.rows(), 12);
    EXPECT_EQ(r.params_init[0].second.cols(), 5);
    EXPECT_EQ(r.params_init[2].second.cols(), 7);
    // Attributes.
    EXPECT_EQ(r.name, config.default_name());
    EXPECT_EQ(string_attr(r, "task"), c.task);
    EXPECT_EQ(string_attr(r, "scale"), c.scale);
    EXPECT_EQ(string_attr(r, "model"), "self_attention");
    EXPECT_EQ(string_attr(r, "optimizer"), "adam");
    EXPECT_EQ(string_attr(r, "status"), "complete");
    const int64_t expected_d_out = c.task == "recall" ? 8 : c.task == "sense" ? 2 : c.d_out;
    ASSERT_NE(r.get("d_out"), nullptr);
    EXPECT_EQ(std::get<int64_t>(*r.get("d_out")), expected_d_out) << c.task;
    for (const char* key : {"d_model", "d_k", "d_v", "seq_len", "batch", "steps", "seed", "causal", "log_every"}) {
      ASSERT_NE(r.get(key), nullptr) << key;
      EXPECT_TRUE(std::holds_alternative<int64_t>(*r.get(key))) << key;
    }
    for (const char* key : {"lr", "init_std", "gradcheck_max_error", "wall_seconds"}) {
      ASSERT_NE(r.get(key), nullptr) << key;
      EXPECT_TRUE(std::holds_alternative<double>(*r.get(key))) << key;
    }
    EXPECT_DOUBLE_EQ(std::get<double>(*r.get("init_std")), 1.0 / std::sqrt(12.0));
    const double gradcheck = std::get<double>(*r.get("gradcheck_max_error"));
    EXPECT_TRUE(std::isfinite(gradcheck) && gradcheck < 1e-6) << "gradcheck_max_error " << gradcheck;
  }
}

TEST(Trainer, LogEveryThreeLogsMultiplesOfThreeAndTheLastStep) {
  for (const long steps : {10L, 11L, 12L, 1L}) {
    RunConfig c = small_run();
    c.steps = steps;
    c.log_every = 3;
    c.gradcheck = false;
    const RunOutcome out = run(c);
    ASSERT_EQ(out.status, RunStatus::Complete);
    std::vector<int64_t> expected;
    for (long t = 0; t < steps; ++t)
      if (t % 3 == 0 || t == steps - 1) expected.push_back(t);
    EXPECT_EQ(out.record.steps, expected) << "steps " << steps;
    for (const auto& [k, v] : out.record.series) {
      if (k.rfind("eval/", 0) == 0) continue;
      EXPECT_EQ(v.size(), expected.size()) << k;
    }
  }
}

// The logged numbers at steps 0 and 3 equal a separate replay: the same model, task and optimizer driven
// by hand (forward, loss, backward, Frobenius norms), measured before each update.
TEST(Trainer, LoggedValuesEqualASeparateForwardBackward) {
  for (const std::string task_name : {"teacher", "recall"}) {
    RunConfig c = small_run(task_name, "learned");
    c.steps = 5;
    c.log_every = 3;
    c.gradcheck = false;
    const RunOutcome out = run(c);
    ASSERT_EQ(out.status, RunStatus::Complete);
    ASSERT_EQ(out.record.steps, (std::vector<int64_t>{0, 3, 4}));

    ad::Rng rng(static_cast<uint64_t>(c.seed));
    models::Attention model(c.attention(), rng);
    auto task = models::make_task(c.task, c.task_config());
    ad::Adam adam(c.lr);
    const auto params = model.parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      EXPECT_EQ(out.record.params_init[i].second, params[i]->value) << "params_init/" << params[i]->name;
    }
    models::AttentionMeter meter;
    size_t logged = 0;
    for (long t = 0; t < c.steps; ++t) {
      models::Batch batch;
      task->next_batch(batch);
      ad::Tape tape;
      for (auto* p : params) p->zero_grad();
      const auto nodes = model.forward(tape, tape.constant(batch.x), batch.batch);
      const ad::Var loss = task->loss(tape, nodes.output, batch);
      tape.backward(loss);
      if (logged < out.record.steps.size() && t == out.record.steps[logged]) {
        const std::string at = task_name + " step " + std::to_string(t);
        EXPECT_NEAR(series(out.record, "loss")[logged], loss.value()(0, 0), 1e-12) << at;
        for (const auto* p : params) {
          // Frobenius norm computed by an explicit sum of squares.
          double sq = 0.0;
          for (Eigen::Index i = 0; i < p->grad.size(); ++i) sq += p->grad(i) * p->grad(i);
          const double norm = std::sqrt(sq);
          EXPECT_GT(norm, 0.0) << at << " " << p->name;
          EXPECT_NEAR(series(out.record, "grad_norm/" + p->name)[logged], norm, 1e-12 * (1 + norm)) << at << " " << p->name;
        }
        const auto m = meter.measure(nodes, nullptr, task->classifies() ? &batch.labels : nullptr);
        EXPECT_NEAR(series(out.record, "logit_grad/mean")[logged], m.logit_grad_mean, 1e-12) << at;
        EXPECT_NEAR(series(out.record, "logit_grad/median")[logged], m.logit_grad_median, 1e-12) << at;
        EXPECT_NEAR(series(out.record, "logit_std")[logged], m.logit_std, 1e-12) << at;
        EXPECT_NEAR(series(out.record, "attn_entropy")[logged], m.attn_entropy, 1e-12) << at;
        EXPECT_NEAR(series(out.record, "attn_max")[logged], m.attn_max, 1e-12) << at;
        EXPECT_NEAR(series(out.record, "saturated_fraction")[logged], m.saturated_fraction, 1e-12) << at;
        if (task->classifies()) {
          const double accuracy = models::Task::accuracy(nodes.output.value(), batch.labels);
          EXPECT_NEAR(series(out.record, "accuracy")[logged], accuracy, 1e-15) << at;
        }
        ++logged;
      }
      adam.step(params);
    }
    EXPECT_EQ(logged, 3u);
    for (size_t i = 0; i < params.size(); ++i)
      EXPECT_TRUE(out.record.params_final[i].second.isApprox(params[i]->value, 1e-12)) << "params/" << params[i]->name;
  }
}

// ---- Divergence -----------------------------------------------------------------------------------------

RunConfig diverging_run(const std::string& scale = "none") {
  RunConfig c = small_run("teacher", scale);
  c.d_model = 16;
  c.d_k = 8;
  c.d_v = 8;
  c.seq_len = 8;
  c.batch = 8;
  c.optimizer = "sgd";
  c.lr = 1e3;
  c.steps = 500;
  c.gradcheck = false;
  c.diverge_factor = 0;  // only a non-finite step stops it (the bound would stop it earlier: see below)
  return c;
}

// lr 1e3 with sgd (momentum 0.9) diverges within ~60 steps for every scale and seed tried. The steps
// logged before the divergence are ordinary steps: every logged value is finite. (With scale learned the
// logit gradients' row norms overflow several steps before the loss does: see
// AttentionMeter.LogitGradientStatisticsDoNotOverflow.)
class DivergedRun : public ::testing::TestWithParam<std::string> {};

TEST_P(DivergedRun, NamesStepAndQuantityAndKeepsTheStepsBefore) {
  const RunConfig c = diverging_run(GetParam());
  const RunOutcome out = run(c);
  ASSERT_EQ(out.status, RunStatus::Diverged) << "lr 1e3 with sgd did not diverge in " << c.steps << " steps";
  std::smatch match;
  ASSERT_TRUE(std::regex_match(out.message, match,
                               std::regex(R"(diverged at step (\d+): (loss|grad_norm/(W_Q|W_K|W_V|W_O|scale)) is (NaN|infinite))")))
      << out.message;
  const long step = std::stol(match[1]);
  const std::string quantity = match[2];
  ASSERT_GT(step, 0);
  EXPECT_EQ(string_attr(out.record, "status"), "diverged");
  // Every step before the bad one is logged, nothing from it or after.
  std::vector<int64_t> expected(static_cast<size_t>(step));
  for (long t = 0; t < step; ++t) expected[static_cast<size_t>(t)] = t;
  EXPECT_EQ(out.record.steps, expected);
  for (const auto& [k, v] : out.record.series) {
    if (k.rfind("eval/", 0) == 0) continue;  // the evaluation's own clock
    EXPECT_EQ(v.size(), static_cast<size_t>(step)) << k;
    // The last update before the divergence may itself send S to infinity: its logit change is then not finite.
    if (k == "logit_delta_rms" && !v.empty() && !std::isfinite(v.back())) continue;
    const auto first = std::find_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); });
    EXPECT_TRUE(first == v.end()) << k << " is " << (first == v.end() ? 0.0 : *first) << " at logged step "
                                  << (first - v.begin()) << " of the " << step << " before the divergence ("
                                  << std::count_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); })
                                  << " non-finite values)";
  }

  // Replaying the same steps by hand: everything is finite before `step`, and at `step` the named
  // quantity is the first non-finite one (loss first, then the gradients in parameter order).
  ad::Rng rng(static_cast<uint64_t>(c.seed));
  models::Attention model(c.attention(), rng);
  auto task = models::make_task(c.task, c.task_config());
  ad::Sgd sgd(c.lr, 0.9);
  sbx::TrainingStep training(model, *task, sgd);
  for (long t = 0; t < step; ++t) {
    training.run(true);
    ASSERT_TRUE(training.finite()) << "replay is not finite at step " << t << " < " << step;
    EXPECT_EQ(training.measurement().loss, series(out.record, "loss")[static_cast<size_t>(t)]) << "step " << t;
  }
  training.run(true);
  ASSERT_FALSE(training.finite()) << "replay is finite at step " << step;
  const auto& m = training.measurement();
  std::string first_bad = "loss";
  double value = m.loss;
  const auto params = model.parameters();
  for (size_t i = 0; std::isfinite(value) && i < params.size(); ++i) {
    first_bad = "grad_norm/" + params[i]->name;
    value = m.grad_norms[i];
  }
  EXPECT_EQ(quantity, first_bad);
  EXPECT_EQ(match[4].str(), std::isnan(value) ? "NaN" : "infinite");
}

INSTANTIATE_TEST_SUITE_P(Trainer, DivergedRun, ::testing::Values("none", "learned"));

// A loss past diverge_factor times the first stops the run as diverged at that step, long before it
// overflows: the step and the reason are recorded, every step before it stays within the bound, and the
// same run without the bound goes on past that step with the same numbers up to it.
TEST(Trainer, LossPastTheBoundStopsTheRunAsDiverged) {
  RunConfig c = diverging_run();
  c.lr = 3.0;  // blows up the loss by far more than 100x, slowly enough to stay finite for a while
  c.diverge_factor = 100;
  const RunOutcome bounded = run(c);
  ASSERT_EQ(bounded.status, RunStatus::Diverged) << "lr 3 with sgd did not blow up in " << c.steps << " steps";
  const long step = bounded.diverged_step;
  ASSERT_GT(step, 0);
  EXPECT_EQ(string_attr(bounded.record, "status"), "diverged");
  const auto* at = bounded.record.get("diverged_step");
  ASSERT_TRUE(at && std::holds_alternative<int64_t>(*at));
  EXPECT_EQ(std::get<int64_t>(*at), step);
  EXPECT_TRUE(std::regex_match(string_attr(bounded.record, "diverged_reason"), std::regex(R"(loss \S+ > 100 x the first loss \S+)")))
      << string_attr(bounded.record, "diverged_reason");
  EXPECT_EQ(bounded.message, "diverged at step " + std::to_string(step) + ": " + bounded.diverged_reason);
  const std::vector<double>& loss = series(bounded.record, "loss");
  ASSERT_EQ(loss.size(), static_cast<size_t>(step + 1)) << "every step up to the one past the bound is logged";
  for (long t = 0; t < step; ++t) EXPECT_LE(loss[static_cast<size_t>(t)], 100 * loss[0]) << "step " << t;
  EXPECT_GT(loss.back(), 100 * loss[0]);
  EXPECT_TRUE(std::isfinite(loss.back()));

  c.diverge_factor = 0;
  const RunOutcome unbounded = run(c);
  const std::vector<double>& free_loss = series(unbounded.record, "loss");
  ASSERT_GT(free_loss.size(), loss.size()) << "without the bound the run goes on past step " << step;
  EXPECT_TRUE(bitwise_equal(std::vector<double>(free_loss.begin(), free_loss.begin() + step + 1), loss));
}

// A run that stays within the bound is the same, bit for bit, whatever the bound (the check only reads).
TEST(Trainer, TheBoundChangesNoNumberOfARunWithinIt) {
  RunConfig c = small_run();
  c.diverge_factor = 0;
  const RunOutcome off = run(c);
  c.diverge_factor = 100;
  const RunOutcome on = run(c);
  ASSERT_EQ(on.status, RunStatus::Complete);
  ASSERT_EQ(off.record.series.size(), on.record.series.size());
  for (size_t i = 0; i < on.record.series.size(); ++i)
    EXPECT_TRUE(bitwise_equal(off.record.series[i].second, on.record.series[i].second)) << on.record.series[i].first;
  EXPECT_EQ(on.record.get("diverged_step"), nullptr);
}

// ---- Stopping -------------------------------------------------------------------------------------------

TEST(Trainer, ShouldStopAfterKCallsGivesInterruptedWithKSteps) {
  for (const long k : {0L, 1L, 4L, 7L}) {
    RunConfig c = small_run();
    c.steps = 50;
    c.gradcheck = false;
    long calls = 0;
    const RunOutcome out = sbx::train_run(c, [&calls, k] { return calls++ >= k; });
    EXPECT_EQ(out.status, RunStatus::Interrupted) << "k " << k;
    EXPECT_EQ(string_attr(out.record, "status"), "interrupted");
    std::vector<int64_t> expected;
    for (long t = 0; t < k; ++t) expected.push_back(t);
    EXPECT_EQ(out.record.steps, expected) << "k " << k;
    for (const auto& [key, v] : out.record.series) {
      if (key.rfind("eval/", 0) == 0) continue;
      EXPECT_EQ(v.size(), static_cast<size_t>(k)) << key;
    }
    // The saved parameters are those after exactly k updates: the same as a complete run of k steps.
    ASSERT_EQ(out.record.params_final.size(), out.record.params_init.size());
    if (k > 0) {
      RunConfig shorter = c;
      shorter.steps = k;
      const RunOutcome reference = run(shorter);
      ASSERT_EQ(reference.status, RunStatus::Complete);
      for (size_t i = 0; i < out.record.params_final.size(); ++i)
        EXPECT_EQ(out.record.params_final[i].second, reference.record.params_final[i].second)
            << "k " << k << ": params/" << out.record.params_final[i].first << " after the interruption";
    } else {
      for (size_t i = 0; i < out.record.params_final.size(); ++i)
        EXPECT_EQ(out.record.params_final[i].second, out.record.params_init[i].second);
    }
  }
  // A should_stop that never fires before the end: complete.
  RunConfig c = small_run();
  c.steps = 5;
  long calls = 0;
  const RunOutcome out = sbx::train_run(c, [&calls] { return calls++ >= 5; });
  EXPECT_EQ(out.status, RunStatus::Complete);
  EXPECT_EQ(out.record.steps.size(), 5u);
}

// ---- Determinism ----------------------------------------------------------------------------------------

TEST(Trainer, SameConfigGivesBitwiseIdenticalRecords) {
  for (const std::string task : {"teacher", "recall", "sense"}) {
    RunConfig c = small_run(task, "qknorm");
    c.steps = 20;
    c.log_every = 2;
    const RunOutcome a = run(c);
    const RunOutcome b = run(c);
    ASSERT_EQ(a.status, RunStatus::Complete);
    EXPECT_EQ(a.record.steps, b.record.steps);
    ASSERT_EQ(a.record.series.size(), b.record.series.size());
    for (size_t i = 0; i < a.record.series.size(); ++i) {
      EXPECT_EQ(a.record.series[i].first, b.record.series[i].first);
      EXPECT_TRUE(bitwise_equal(a.record.series[i].second, b.record.series[i].second))
          << task << ": series " << a.record.series[i].first << " differs between two identical runs";
    }
    for (size_t i = 0; i < a.record.params_final.size(); ++i)
      EXPECT_EQ(a.record.params_final[i].second, b.record.params_final[i].second) << task;
    ASSERT_EQ(a.record.attributes.size(), b.record.attributes.size());
    for (size_t i = 0; i < a.record.attributes.size(); ++i) {
      EXPECT_EQ(a.record.attributes[i].first, b.record.attributes[i].first);
      if (a.record.attributes[i].first == "wall_seconds") continue;
      EXPECT_EQ(a.record.attributes[i].second, b.record.attributes[i].second) << a.record.attributes[i].first;
    }
    // A different seed gives a different run.
    c.seed += 1;
    const RunOutcome other = run(c);
    EXPECT_FALSE(bitwise_equal(series(a.record, "loss"), series(other.record, "loss"))) << task;
  }
}

// --save-weights keeps all the weights, the final ones or none, and changes nothing else the run records;
// its default (all) leaves the configuration text as it was, any other choice is part of it.
TEST(Trainer, SaveWeightsKeepsWhatItSaysAndChangesNoOtherNumber) {
  RunConfig c = small_run();
  const RunOutcome all = run(c);
  c.save_weights = "final";
  const RunOutcome final_only = run(c);
  c.save_weights = "none";
  const RunOutcome none = run(c);
  EXPECT_EQ(all.record.params_init.size(), 3u);
  EXPECT_EQ(all.record.params_final.size(), 3u);
  EXPECT_TRUE(final_only.record.params_init.empty());
  ASSERT_EQ(final_only.record.params_final.size(), 3u);
  EXPECT_EQ(final_only.record.params_final[0].second, all.record.params_final[0].second);
  EXPECT_TRUE(none.record.params_init.empty());
  EXPECT_TRUE(none.record.params_final.empty());
  EXPECT_TRUE(bitwise_equal(series(none.record, "loss"), series(all.record, "loss")));
  EXPECT_EQ(string_attr(all.record, "config").find("save-weights"), std::string::npos);
  EXPECT_NE(string_attr(none.record, "config").find("save-weights = none"), std::string::npos);
  c.save_weights = "some";
  EXPECT_THROW(c.validate(), sbx::UserError);
}

// ---- Saving ---------------------------------------------------------------------------------------------

// A saved record reads back as it was (params_init as the model was initialised, series, attributes).
TEST(Trainer, SavedRecordReadsBack) {
  const sbx::test::TempDir scratch("test_trainer");
  const std::string path = scratch.path("runs.h5");
  RunConfig c = small_run("recall", "learned");
  c.steps = 6;
  c.log_every = 2;
  const RunOutcome out = run(c);
  sbx::io::save_runs(path, {out.record}, false);
  sbx::io::H5Reader in(path);
  const std::string where = "/runs/" + out.record.name;
  ad::Rng rng(static_cast<uint64_t>(c.seed));
  models::Attention model(c.attention(), rng);
  for (auto* p : model.parameters()) {
    EXPECT_EQ(in.read_matrix(where + "/params_init/" + p->name), p->value) << p->name;
  }
  for (const auto& [name, m] : out.record.params_final) EXPECT_EQ(in.read_matrix(where + "/params/" + name), m) << name;
  EXPECT_EQ(in.read_int_vector(where + "/step"), out.record.steps);
  for (const auto& [key, values] : out.record.series)
    EXPECT_TRUE(bitwise_equal(in.read_vector(where + "/" + key), values)) << key;
  EXPECT_EQ(in.read_string_attr(where, "status"), "complete");
  EXPECT_EQ(in.read_int_attr(where, "d_out"), 8);
  EXPECT_EQ(in.read_double_attr(where, "lr"), 0.01);

  // Saving the same run name again is refused by save_runs itself (not only by check_can_save), and the
  // file is left as it was; with overwrite it is replaced.
  auto bytes = [&path] { return sbx::test::read_bytes(path); };
  const std::string before = bytes();
  EXPECT_THROW(sbx::io::check_can_save(path, {out.record.name}, false), sbx::UserError);
  EXPECT_NO_THROW(sbx::io::check_can_save(path, {out.record.name}, true));
  EXPECT_NO_THROW(sbx::io::check_can_save(path, {"another-name"}, false));
  sbx::io::RunRecord changed = out.record;
  changed.set("status", std::string("interrupted"));
  EXPECT_THROW(sbx::io::save_runs(path, {changed}, false), sbx::UserError);
  EXPECT_EQ(bytes(), before) << "a refused save changed the file";
  sbx::io::save_runs(path, {changed}, true);
  sbx::io::H5Reader again(path);
  EXPECT_EQ(again.read_string_attr(where, "status"), "interrupted");
}

// ---- Sweep saving errors --------------------------------------------------------------------------------

// run_sweep saves finished runs in batches while other runs are still training. When such a save fails
// (here: the output directory does not exist; in real life a full disk or a removed directory), the
// error must reach the caller as a UserError, not abort the process with worker threads still running.
// Run in a child process (death test), since the failure mode is std::terminate.
TEST(SweepDeathTest, SaveErrorWhileRunsAreInProgressIsReportedNotAborted) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  sbx::SweepGrid grid;
  grid.base = small_run();
  grid.base.steps = 3000;
  grid.base.gradcheck = false;
  grid.add_axis("dk", "2 3 4", "test");
  sbx::SweepPlan plan;
  plan.to_run = grid.expand();
  const std::string missing = "/nonexistent-sweep-dir-" + std::to_string(::getpid()) + "/out.h5";
  sbx::io::SaveOptions options;
  options.fallback_out = (std::filesystem::temp_directory_path() / "sbx_sweep_death_test_fallback.h5").string();  // no pid: the death test's child re-runs this line
  std::filesystem::remove(options.fallback_out);
  EXPECT_EXIT(
      {
        try {
          sbx::run_sweep(plan, missing, options, 1, [] { return false; }, [](const sbx::SweepProgress&) {}, 0.0);
        } catch (const sbx::UserError&) {
          std::_Exit(0);
        } catch (...) {
          std::_Exit(3);
        }
        std::_Exit(4);
      },
      ::testing::ExitedWithCode(0), "")
      << "a failing batch save during a sweep must throw UserError (exit 0 here), not std::terminate";
  // Nothing that finished is lost: the batches went to the fallback file (the first run complete, the
  // ones stopped by the failure interrupted).
  const auto saved = sbx::io::run_statuses(options.fallback_out);
  ASSERT_FALSE(saved.empty()) << "no run reached the fallback file";
  EXPECT_EQ(saved.front().second, "complete");
  std::filesystem::remove(options.fallback_out);
}

}  // namespace

// ---- The change of the logits over one update ---------------------------------------------------------

// logit_delta_rms is the rms, over the entries a query sees, of S after the update minus S before it, on
// the step's own batch. Recomputed here: the same model and batch, S taken before and after one Adam step
// by separate forward passes; the masked entries (causal) are left out; no update gives NaN.
TEST(TrainingStep, LogitChangeIsTheRmsOfSAfterMinusBeforeOnTheSameBatch) {
  for (const bool causal : {false, true}) {
    RunConfig c = small_run("teacher", "none");
    c.causal = causal;
    c.heads = 2;
    ad::Rng rng(static_cast<uint64_t>(c.seed));
    models::Attention model(c.resolved().attention(), rng);
    auto task = models::make_task(c.task, c.task_config());
    ad::Adam adam(0.05);
    sbx::TrainingStep step(model, *task, adam);
    step.run(true, /*update=*/false);
    EXPECT_TRUE(std::isnan(step.measurement().logit_delta_rms)) << "no update, causal " << causal;

    // Snapshot the parameters, run one measured step, and redo its forward passes by hand.
    const auto params = model.parameters();
    std::vector<Matrix> before;
    for (const ad::Parameter* p : params) before.push_back(p->value);
    step.run(true);
    const double got = step.measurement().logit_delta_rms;
    const models::Batch batch = step.batch();
    std::vector<Matrix> after;
    for (const ad::Parameter* p : params) after.push_back(p->value);
    auto logits_with = [&](const std::vector<Matrix>& values) {
      for (size_t i = 0; i < params.size(); ++i) params[i]->value = values[i];
      ad::Tape tape;
      return Matrix(sbx::forward_on_batch(model, tape, batch).logits.value());
    };
    const Matrix s0 = logits_with(before), s1 = logits_with(after);
    double sum = 0.0, count = 0.0;
    for (Eigen::Index r = 0; r < s0.rows(); ++r)
      for (Eigen::Index col = 0; col < s0.cols(); ++col)
        if (!causal || !model.causal_mask_in_use()(r, col)) {
          sum += (s1(r, col) - s0(r, col)) * (s1(r, col) - s0(r, col));
          count += 1.0;
        }
    EXPECT_LT(count, causal ? 0.75 * static_cast<double>(s0.size()) : 1e300);  // the mask did hide entries
    const double want = std::sqrt(sum / count);
    EXPECT_GT(want, 0.0);
    EXPECT_NEAR(got, want, 1e-12 * want) << "causal " << causal;
  }
}
