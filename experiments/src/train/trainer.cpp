#include "experiments/src/train/trainer.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <type_traits>

#include "autodiff/optim.hpp"
#include "experiments/src/io/layout.hpp"
#include "experiments/src/train/batch_streams.hpp"
#include "experiments/src/train/evaluation.hpp"
#include "experiments/src/train/lm_trainer.hpp"
#include "experiments/src/train/optimizer_choice.hpp"
#include "experiments/src/train/option_table.hpp"
#include "experiments/src/train/training_step.hpp"
#include "models/model_checks.hpp"
#include "models/task_registry.hpp"

namespace sbx {
namespace {

namespace lo = io::layout;

// W^Q and W^K, which learn at lr·lr_qk_mult.
template <class S>
std::vector<const ad::ParameterOf<S>*> query_key_weights(models::AttentionOf<S>& model) {
  std::vector<const ad::ParameterOf<S>*> found;
  for (const char* name : {"W_Q", "W_K"})
    if (const ad::ParameterOf<S>* p = model.find(name)) found.push_back(p);
  return found;
}

}  // namespace

void set_config_attributes(io::RunRecord& record, const RunConfig& config) {
  const RunConfig resolved = config.resolved();
  for (const RunOption& o : run_options()) {
    std::visit(
        [&](auto member) {
          const auto& value = resolved.*member;
          using T = std::decay_t<decltype(value)>;
          if constexpr (std::is_same_v<T, long>) record.set(o.attr, int64_t{value});
          else if constexpr (std::is_same_v<T, bool>) record.set(o.attr, int64_t{value ? 1 : 0});
          else record.set(o.attr, value);
        },
        o.field);
  }
  const std::string text = config_text(resolved);
  record.set(lo::run::config, text);
  record.set(lo::run::config_hash, config_hash(text));
}

const char* status_name(RunStatus status) {
  switch (status) {
    case RunStatus::Complete: return lo::run::complete;
    case RunStatus::Interrupted: return lo::run::interrupted;
    case RunStatus::Diverged: return lo::run::diverged;
  }
  return "unknown";
}

namespace {

// The run checks its own model (same scale, mask and W^O) on small distinct shapes first: the largest
// error, at least 1 when the check failed (NaN when the run does not check).
double run_gradcheck(const RunConfig& config, const models::AttentionConfig& attention_config, const RunHooks& hooks) {
  if (!config.gradcheck) return std::nan("");
  const models::ModelCheck check = models::small_version(attention_config, config.cross());
  const uint64_t check_seed = static_cast<uint64_t>(config.seed) + 17;
  auto compute = [&] {
    const auto report = models::gradcheck_model(check, check_seed);
    if (report.passed) return report.max_abs_error;
    return std::isfinite(report.max_abs_error) ? std::max(report.max_abs_error, 1.0) : report.max_abs_error;
  };
  return hooks.gradcheck_cache ? hooks.gradcheck_cache->error(check, check_seed, compute) : compute();
}

// The run's training batches: a replay of the stream a sweep shares, or the task's own generator.
std::unique_ptr<models::Task> make_run_task(const models::TaskEntry& entry, const RunConfig& config, const RunHooks& hooks) {
  std::unique_ptr<models::Task> task;
  if (hooks.batch_streams) task = hooks.batch_streams->task(entry, config.task_config(), config.steps);
  if (!task) task = entry.make(config.task_config());
  return task;
}

Evaluator make_evaluator(const models::TaskEntry& entry, const RunConfig& config, const RunHooks& hooks) {
  return hooks.batch_streams ? Evaluator(entry, config.task_config(), config.eval_batches, *hooks.batch_streams)
                             : Evaluator(entry, config.task_config(), config.eval_batches);
}

// The series a run logs, created in the order the layout documents them.
class RunSeries {
 public:
  template <class Parameter>
  RunSeries(io::RunRecord& record, const std::vector<Parameter*>& parameters, bool classifies, long heads, bool has_scale)
      : record_(record) {
    for (const Parameter* p : parameters) grad_norm_.push_back(&record.series_named(lo::run::grad_norm_of(p->name)));
    loss_ = &record.series_named(lo::run::loss);
    logit_grad_mean_ = &record.series_named(lo::run::logit_grad_mean);
    logit_grad_median_ = &record.series_named(lo::run::logit_grad_median);
    saturated_ = &record.series_named(lo::run::saturated_fraction);
    entropy_ = &record.series_named(lo::run::attn_entropy);
    attn_max_ = &record.series_named(lo::run::attn_max);
    logit_std_ = &record.series_named(lo::run::logit_std);
    accuracy_ = classifies ? &record.series_named(lo::run::accuracy) : nullptr;
    // Added with heads and cross-attention: logit magnitude, query gradients, and per head (h > 1).
    logit_max_abs_ = &record.series_named(lo::run::logit_max_abs);
    q_grad_mean_ = &record.series_named(lo::run::q_grad_mean);
    q_grad_median_ = &record.series_named(lo::run::q_grad_median);
    grad_zero_ = &record.series_named(lo::run::logit_grad_zero_fraction);
    top_one_ = &record.series_named(lo::run::top_weight_one_fraction);
    logit_delta_rms_ = &record.series_named(lo::run::logit_delta_rms);
    for (long h = 0; heads > 1 && h < heads; ++h) {
      // head<i>/…, since saturated_fraction and attn_entropy are already datasets (not groups).
      saturated_head_.push_back(&record.series_named(lo::run::head_series(h, lo::run::saturated_fraction)));
      entropy_head_.push_back(&record.series_named(lo::run::head_series(h, lo::run::attn_entropy)));
    }
    lr_ = &record.series_named(lo::run::lr);
    scale_ = has_scale ? &record.series_named(lo::run::scale) : nullptr;
    // The evaluation, on its own clock: eval/step counts the updates applied before it (0: at init).
    eval_step_ = &record.int_series_named(lo::run::eval_step);
    eval_loss_ = &record.series_named(lo::run::eval_loss);
    eval_accuracy_ = classifies ? &record.series_named(lo::run::eval_accuracy) : nullptr;
  }

  void log_step(long t, double lr, double scale, const StepMeasurement& m) {
    record_.steps.push_back(t);
    lr_->push_back(lr);
    if (scale_) scale_->push_back(scale);
    loss_->push_back(m.loss);
    for (size_t i = 0; i < grad_norm_.size(); ++i) grad_norm_[i]->push_back(m.grad_norms[i]);
    logit_grad_mean_->push_back(m.attention.logit_grad_mean);
    logit_grad_median_->push_back(m.attention.logit_grad_median);
    saturated_->push_back(m.attention.saturated_fraction);
    entropy_->push_back(m.attention.attn_entropy);
    attn_max_->push_back(m.attention.attn_max);
    logit_std_->push_back(m.attention.logit_std);
    if (accuracy_) accuracy_->push_back(m.accuracy);
    logit_max_abs_->push_back(m.attention.logit_max_abs);
    q_grad_mean_->push_back(m.attention.q_grad_mean);
    q_grad_median_->push_back(m.attention.q_grad_median);
    grad_zero_->push_back(m.attention.logit_grad_zero_fraction);
    top_one_->push_back(m.attention.top_weight_one_fraction);
    logit_delta_rms_->push_back(m.logit_delta_rms);
    for (size_t h = 0; h < saturated_head_.size(); ++h) {
      saturated_head_[h]->push_back(m.attention.saturated_fraction_head[h]);
      entropy_head_[h]->push_back(m.attention.attn_entropy_head[h]);
    }
  }

  void log_evaluation(long updates, const EvalResult& e) {
    eval_step_->push_back(updates);
    eval_loss_->push_back(e.loss);
    if (eval_accuracy_) eval_accuracy_->push_back(e.accuracy);
  }
  // Whether the last evaluation saw exactly `updates` updates.
  bool evaluated_at(long updates) const { return !eval_step_->empty() && eval_step_->back() == updates; }

 private:
  io::RunRecord& record_;
  std::vector<std::vector<double>*> grad_norm_, saturated_head_, entropy_head_;
  std::vector<double>*loss_, *logit_grad_mean_, *logit_grad_median_, *saturated_, *entropy_, *attn_max_, *logit_std_,
      *accuracy_, *logit_max_abs_, *q_grad_mean_, *q_grad_median_, *grad_zero_, *top_one_, *logit_delta_rms_, *lr_, *scale_, *eval_loss_,
      *eval_accuracy_;
  std::vector<int64_t>* eval_step_;
};

// "<what> is NaN": the first quantity that went non-finite, the loss, else a parameter's gradient.
template <class Parameter>
std::string non_finite_reason(const StepMeasurement& m, const std::vector<Parameter*>& parameters) {
  std::string what = lo::run::loss;
  double value = m.loss;
  for (size_t i = 0; std::isfinite(value) && i < parameters.size(); ++i) {
    what = lo::run::grad_norm_of(parameters[i]->name);
    value = m.grad_norms[i];
  }
  return what + " is " + (std::isnan(value) ? "NaN" : "infinite");
}

// A finite loss past the bound: over diverge_factor times the first loss (its size, or 1 when the first is
// 0), the same rule as the Python reader's diverged_at.
bool past_bound(double loss, double first_loss, double factor) {
  const double reference = first_loss != 0 && std::isfinite(first_loss) ? std::abs(first_loss) : 1.0;
  return factor > 0 && std::abs(loss) > factor * reference;
}

std::string format_g(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g", value);
  return text;
}

void mark_diverged(RunOutcome& out, long t, std::string reason) {
  out.status = RunStatus::Diverged;
  out.diverged_step = t;
  out.diverged_reason = std::move(reason);
  out.message = "diverged at step " + std::to_string(t) + ": " + out.diverged_reason;
}

template <class Step>
void configure_step(Step& step, models::Task& task, const RunConfig& config, const RunHooks& hooks, RunProfile& profile) {
  if (hooks.profile) step.set_profile(&profile);
  step.set_workers(hooks.workers);
  task.set_workers(hooks.workers);
  step.set_clip_grad_norm(config.clip_grad_norm);
}

// The training loop and what its steps touch.
template <class S>
struct StepLoop {
  const RunConfig& config;
  TrainingStepOf<S>& step;
  ad::OptimizerOf<S>& optimizer;
  const ad::LrSchedule& schedule;
  const ad::ParameterOf<S>* log_scale;
  const std::vector<ad::ParameterOf<S>*>& parameters;
  RunSeries& series;

  // Steps until the last one, a stop request (Interrupted), a non-finite step or a loss past the bound of
  // diverge_factor (Diverged, named in out); logs every log_every-th step and the last (a step past the
  // bound too, when it is one of those), evaluates every eval_every updates. Returns the updates applied.
  long run(const std::function<bool()>& should_stop, const StepCallback& on_step, const std::function<void(long)>& evaluate,
           RunOutcome& out) {
    long updates = 0;
    double first_loss = 0;
    for (long t = 0; t < config.steps; ++t) {
      if (should_stop()) {
        out.status = RunStatus::Interrupted;
        break;
      }
      const bool log_this = t % config.log_every == 0 || t == config.steps - 1;
      const double lr_now = ad::scheduled_lr(schedule, t);
      optimizer.set_lr(lr_now);
      const double scale_now = log_scale ? std::exp(static_cast<double>(log_scale->value(0, 0))) : 0.0;
      step.run(log_this);
      if (!step.finite()) {  // no update was applied
        mark_diverged(out, t, non_finite_reason(step.measurement(), parameters));
        break;
      }
      const double loss = step.measurement().loss;
      if (t == 0) first_loss = loss;
      updates = t + 1;
      if (on_step) on_step(updates, loss);
      if (past_bound(loss, first_loss, config.diverge_factor)) {
        if (log_this) series.log_step(t, lr_now, scale_now, step.measurement());  // its metrics were measured
        mark_diverged(out, t, std::string(lo::run::loss) + " " + format_g(loss) + " > " + format_g(config.diverge_factor) +
                                  " x the first loss " + format_g(first_loss));
        break;
      }
      if (config.eval_every > 0 && updates % config.eval_every == 0 && updates != config.steps) evaluate(updates);
      if (log_this) series.log_step(t, lr_now, scale_now, step.measurement());
    }
    return updates;
  }
};

// The weights as stored: float64 datasets in either precision (a float weight is exactly a double).
template <class S>
void store_parameters(std::vector<std::pair<std::string, Eigen::MatrixXd>>& into, const std::vector<ad::ParameterOf<S>*>& parameters) {
  for (const ad::ParameterOf<S>* p : parameters) {
    if constexpr (std::is_same_v<S, double>) into.emplace_back(p->name, p->value);
    else into.emplace_back(p->name, p->value.template cast<double>());
  }
}

// The run's last records: the parameters it ends with, its wall time and how it ended.
template <class S>
void finish_record(io::RunRecord& record, const std::vector<ad::ParameterOf<S>*>& parameters, bool keep_weights, double wall,
                   const RunOutcome& out) {
  if (keep_weights) store_parameters(record.params_final, parameters);
  record.set(lo::run::wall_seconds, wall);
  record.set(lo::run::status, std::string(status_name(out.status)));
  if (out.status == RunStatus::Diverged) {
    record.set(lo::run::diverged_step, int64_t{out.diverged_step});
    record.set(lo::run::diverged_reason, out.diverged_reason);
  }
}

void add_profile(RunProfile& total, RunProfile& run, PhaseClock& whole_run) {
  whole_run.lap(run.total);
  run.runs = 1;
  total += run;
}

// The model, its task, optimizer, step and evaluation in scalar S, trained into `out`.
template <class S>
void train_model(const RunConfig& config, const models::TaskEntry& task_entry, const std::function<bool()>& should_stop,
                 const StepCallback& on_step, const RunHooks& hooks, PhaseClock& clock, RunProfile& profile, RunOutcome& out) {
  io::RunRecord& record = out.record;
  ad::Rng rng(static_cast<uint64_t>(config.seed));
  models::AttentionOf<S> model(config.attention(), rng);

  const std::unique_ptr<models::Task> task = make_run_task(task_entry, config, hooks);
  for (const auto& attribute : task->attributes()) record.set(attribute.name, attribute.value);
  const auto optimizer = make_optimizer(config, query_key_weights(model));
  const ad::LrSchedule schedule{config.lr, ad::schedule_from_name(config.schedule), config.warmup_steps, config.min_lr,
                                config.steps};
  TrainingStepOf<S> step(model, *task, *optimizer);
  configure_step(step, *task, config, hooks, profile);
  Evaluator evaluator = make_evaluator(task_entry, config, hooks);
  evaluator.set_workers(hooks.workers);
  const auto parameters = model.parameters();
  if (config.save_weights == "all") store_parameters(record.params_init, parameters);
  ad::ParameterOf<S>* log_scale = model.find("scale");
  RunSeries series(record, parameters, task->classifies(), config.heads, log_scale != nullptr);
  double elsewhere = 0.0;
  auto evaluate = [&](long updates) {
    clock.lap(elsewhere);  // the training loop's own phases are timed by the step
    series.log_evaluation(updates, evaluator.evaluate(model));
    clock.lap(profile.evaluation);
  };
  clock.lap(profile.setup);
  evaluate(0);
  const auto started = std::chrono::steady_clock::now();
  StepLoop<S> loop{config, step, *optimizer, schedule, log_scale, parameters, series};
  const long updates = loop.run(should_stop, on_step, evaluate, out);
  // The final evaluation, with the parameters the run ends with (unless the last one already was).
  if (out.status != RunStatus::Diverged && !series.evaluated_at(updates)) evaluate(updates);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  finish_record(record, parameters, config.save_weights != "none", wall, out);
}

}  // namespace

RunOutcome train_run(const RunConfig& requested, const std::function<bool()>& should_stop, const StepCallback& on_step,
                     const RunHooks& hooks) {
  PhaseClock clock(hooks.profile != nullptr), whole_run(hooks.profile != nullptr);
  RunProfile profile;  // added to hooks.profile at the end
  requested.validate();
  const RunConfig config = requested.resolved();
  if (config.language_model()) return train_lm_run(config, should_stop, on_step, hooks);  // its own loop
  const models::TaskEntry& task_entry = models::task_entry(config.task);
  RunOutcome out;
  io::RunRecord& record = out.record;
  record.name = config.name();
  const models::AttentionConfig attention_config = config.attention();
  set_config_attributes(record, config);
  record.set(lo::run::gradcheck_max_error, run_gradcheck(config, attention_config, hooks));
  clock.lap(profile.gradcheck);
  if (config.float32()) train_model<float>(config, task_entry, should_stop, on_step, hooks, clock, profile, out);
  else train_model<double>(config, task_entry, should_stop, on_step, hooks, clock, profile, out);
  if (hooks.profile) add_profile(*hooks.profile, profile, whole_run);
  return out;
}

}  // namespace sbx
