#include "experiments/src/train/trainer.hpp"

#include <chrono>
#include <cmath>
#include <memory>

#include "autodiff/optim.hpp"
#include "experiments/src/train/training_step.hpp"
#include "models/model_checks.hpp"

namespace sbx {
namespace {

std::unique_ptr<ad::Optimizer> make_optimizer(const RunConfig& c) {
  if (c.optimizer == "sgd") return std::make_unique<ad::Sgd>(c.lr, 0.9);
  return std::make_unique<ad::Adam>(c.lr);
}

void set_attributes(io::RunRecord& r, const RunConfig& c, const models::AttentionConfig& a) {
  r.set("task", c.task);
  r.set("model", c.model);
  r.set("scale", c.scale);
  r.set("d_model", int64_t{c.d_model});
  r.set("d_k", int64_t{c.d_k});
  r.set("d_v", int64_t{c.d_v});
  r.set("d_out", int64_t{a.d_out});
  r.set("seq_len", int64_t{c.seq_len});
  r.set("batch", int64_t{c.batch});
  r.set("steps", int64_t{c.steps});
  r.set("optimizer", c.optimizer);
  r.set("lr", c.lr);
  r.set("seed", int64_t{c.seed});
  r.set("causal", int64_t{c.causal ? 1 : 0});
  r.set("log_every", int64_t{c.log_every});
  r.set("init_std", a.init_std > 0 ? a.init_std : 1.0 / std::sqrt(static_cast<double>(c.d_model)));
  r.set("heads", int64_t{c.heads});
  r.set("context_len", int64_t{c.cross() ? c.context_len : 0});
}

}  // namespace

const char* status_name(RunStatus status) {
  switch (status) {
    case RunStatus::Complete: return "complete";
    case RunStatus::Interrupted: return "interrupted";
    case RunStatus::Diverged: return "diverged";
  }
  return "unknown";
}

RunOutcome train_run(const RunConfig& config, const std::function<bool()>& should_stop) {
  config.validate();
  RunOutcome out;
  io::RunRecord& record = out.record;
  record.name = config.name();
  const models::AttentionConfig attention_config = config.attention();
  set_attributes(record, config, attention_config);

  // The run checks its own model (same scale, mask and W^O) on small distinct shapes first.
  double gradcheck_error = std::nan("");
  if (config.gradcheck) {
    const auto report = models::gradcheck_model(models::small_version(attention_config, config.cross()),
                                                static_cast<uint64_t>(config.seed) + 17);
    gradcheck_error = report.max_abs_error;
    if (!report.passed) gradcheck_error = std::isfinite(report.max_abs_error) ? std::max(report.max_abs_error, 1.0) : report.max_abs_error;
  }
  record.set("gradcheck_max_error", gradcheck_error);

  ad::Rng rng(static_cast<uint64_t>(config.seed));
  models::Attention model(attention_config, rng);
  const auto task = models::make_task(config.task, config.task_config());
  for (const auto& attribute : task->attributes()) record.set(attribute.name, attribute.value);
  const auto optimizer = make_optimizer(config);
  TrainingStep step(model, *task, *optimizer);
  const auto parameters = model.parameters();
  for (const ad::Parameter* p : parameters) record.params_init.emplace_back(p->name, p->value);

  // The series, in the order the layout documents them.
  std::vector<std::vector<double>*> grad_norm_series;
  for (const ad::Parameter* p : parameters) grad_norm_series.push_back(&record.series_named("grad_norm/" + p->name));
  auto& loss = record.series_named("loss");
  auto& logit_grad_mean = record.series_named("logit_grad/mean");
  auto& logit_grad_median = record.series_named("logit_grad/median");
  auto& saturated = record.series_named("saturated_fraction");
  auto& entropy = record.series_named("attn_entropy");
  auto& attn_max = record.series_named("attn_max");
  auto& logit_std = record.series_named("logit_std");
  std::vector<double>* accuracy = task->classifies() ? &record.series_named("accuracy") : nullptr;
  // Added with heads and cross-attention: logit magnitude, query gradients, and per head (h > 1).
  auto& logit_max_abs = record.series_named("logit_max_abs");
  auto& q_grad_mean = record.series_named("q_grad/mean");
  auto& q_grad_median = record.series_named("q_grad/median");
  std::vector<std::vector<double>*> saturated_head, entropy_head;
  for (long h = 0; config.heads > 1 && h < config.heads; ++h) {
    // head<i>/…, since saturated_fraction and attn_entropy are already datasets (not groups).
    saturated_head.push_back(&record.series_named("head" + std::to_string(h) + "/saturated_fraction"));
    entropy_head.push_back(&record.series_named("head" + std::to_string(h) + "/attn_entropy"));
  }

  const auto started = std::chrono::steady_clock::now();
  for (long t = 0; t < config.steps; ++t) {
    if (should_stop()) {
      out.status = RunStatus::Interrupted;
      break;
    }
    const bool log_this = t % config.log_every == 0 || t == config.steps - 1;
    step.run(log_this);
    const StepMeasurement& m = step.measurement();
    if (!step.finite()) {
      // Name the first quantity that went non-finite: the loss, else a parameter's gradient.
      std::string what = "loss";
      double value = m.loss;
      for (size_t i = 0; std::isfinite(value) && i < parameters.size(); ++i) {
        what = "grad_norm/" + parameters[i]->name;
        value = m.grad_norms[i];
      }
      out.status = RunStatus::Diverged;
      out.message = "diverged at step " + std::to_string(t) + ": " + what + " is " + (std::isnan(value) ? "NaN" : "infinite");
      break;
    }
    if (!log_this) continue;
    record.steps.push_back(t);
    loss.push_back(m.loss);
    for (size_t i = 0; i < parameters.size(); ++i) grad_norm_series[i]->push_back(m.grad_norms[i]);
    logit_grad_mean.push_back(m.attention.logit_grad_mean);
    logit_grad_median.push_back(m.attention.logit_grad_median);
    saturated.push_back(m.attention.saturated_fraction);
    entropy.push_back(m.attention.attn_entropy);
    attn_max.push_back(m.attention.attn_max);
    logit_std.push_back(m.attention.logit_std);
    if (accuracy) accuracy->push_back(m.accuracy);
    logit_max_abs.push_back(m.attention.logit_max_abs);
    q_grad_mean.push_back(m.attention.q_grad_mean);
    q_grad_median.push_back(m.attention.q_grad_median);
    for (size_t h = 0; h < saturated_head.size(); ++h) {
      saturated_head[h]->push_back(m.attention.saturated_fraction_head[h]);
      entropy_head[h]->push_back(m.attention.attn_entropy_head[h]);
    }
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  for (const ad::Parameter* p : parameters) record.params_final.emplace_back(p->name, p->value);
  record.set("wall_seconds", wall);
  record.set("status", std::string(status_name(out.status)));
  return out;
}

}  // namespace sbx
