#include "experiments/src/train/lm_trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numbers>
#include <type_traits>

#include "autodiff/optim.hpp"
#include "experiments/src/io/layout.hpp"
#include "experiments/src/train/optimizer_choice.hpp"
#include "models/attention_metrics.hpp"
#include "models/lm.hpp"
#include "models/lm_checks.hpp"
#include "models/lm_metrics.hpp"
#include "models/task_registry.hpp"
#include "models/text_corpus.hpp"

namespace sbx {
namespace {

namespace lo = io::layout;

// Every block's W^Q and W^K, which learn at lr·lr_qk_mult.
template <class S>
std::vector<const ad::ParameterOf<S>*> query_key_weights(models::LmOf<S>& model) {
  std::vector<const ad::ParameterOf<S>*> found;
  for (const ad::ParameterOf<S>* p : model.parameters())
    if (p->name.ends_with(".W_Q") || p->name.ends_with(".W_K")) found.push_back(p);
  return found;
}

// The series of a language-model run: the layout's required ones (over every block's rows), per block the
// attention metrics, the whole model's gradient norm and the output logits' mean.
class LmSeries {
 public:
  template <class Parameter>
  LmSeries(io::RunRecord& r, const std::vector<Parameter*>& parameters, long layers, long heads) : record_(r), heads_(heads) {
    for (const Parameter* p : parameters) grad_norm_.push_back(&r.series_named(lo::run::grad_norm_of(p->name)));
    loss_ = &r.series_named(lo::run::loss);
    accuracy_ = &r.series_named(lo::run::accuracy);
    grad_total_ = &r.series_named(lo::run::grad_norm_total);
    logit_grad_mean_ = &r.series_named(lo::run::logit_grad_mean);
    logit_grad_median_ = &r.series_named(lo::run::logit_grad_median);
    saturated_ = &r.series_named(lo::run::saturated_fraction);
    entropy_ = &r.series_named(lo::run::attn_entropy);
    attn_max_ = &r.series_named(lo::run::attn_max);
    logit_std_ = &r.series_named(lo::run::logit_std);
    logit_max_abs_ = &r.series_named(lo::run::logit_max_abs);
    output_mean_ = &r.series_named(lo::run::output_logit_mean);
    for (long l = 0; l < layers; ++l) {
      block_.push_back({&r.series_named(lo::run::block_series(l, lo::run::logit_max_abs)),
                        &r.series_named(lo::run::block_series(l, lo::run::attn_entropy)),
                        &r.series_named(lo::run::block_series(l, lo::run::saturated_fraction)),
                        &r.series_named(lo::run::block_series(l, lo::run::logit_grad_median))});
      for (long h = 0; heads > 1 && h < heads; ++h)
        head_.push_back({&r.series_named(lo::run::block_head_series(l, h, lo::run::logit_max_abs)),
                         &r.series_named(lo::run::block_head_series(l, h, lo::run::attn_entropy)),
                         &r.series_named(lo::run::block_head_series(l, h, lo::run::saturated_fraction)),
                         &r.series_named(lo::run::block_head_series(l, h, lo::run::logit_grad_median))});
    }
    lr_ = &r.series_named(lo::run::lr);
    eval_step_ = &r.int_series_named(lo::run::eval_step);
    eval_loss_ = &r.series_named(lo::run::eval_loss);
    eval_bits_ = &r.series_named(lo::run::eval_bits_per_char);
    eval_accuracy_ = &r.series_named(lo::run::eval_accuracy);
  }

  // One logged step, measured on the step's forward and backward pass.
  template <class S>
  void log_step(long t, double lr, double loss, double accuracy, const std::vector<double>& grad_norms,
                const models::LmForwardOf<S>& f) {
    record_.steps.push_back(t);
    lr_->push_back(lr);
    loss_->push_back(loss);
    accuracy_->push_back(accuracy);
    double total = 0.0;
    for (size_t i = 0; i < grad_norm_.size(); ++i) {
      grad_norm_[i]->push_back(grad_norms[i]);
      total += grad_norms[i] * grad_norms[i];
    }
    grad_total_->push_back(std::sqrt(total));
    all_rows_.clear();
    double grad_mean = 0, entropy = 0, saturated = 0, top = 0, largest = 0, seen = 0, sum = 0, sum_sq = 0;
    for (size_t l = 0; l < f.attention.size(); ++l) {
      const models::BlockAttentionMetrics m = models::measure_block(f.attention[l], scratch_);
      all_rows_.insert(all_rows_.end(), scratch_.begin(), scratch_.end());
      block_[l].push(m);
      if (heads_ > 1) {
        models::measure_heads(f.attention[l], heads_, scratch_, head_metrics_);
        for (long h = 0; h < heads_; ++h)
          head_[l * static_cast<size_t>(heads_) + static_cast<size_t>(h)].push(head_metrics_[static_cast<size_t>(h)]);
      }
      grad_mean += m.logit_grad_mean, entropy += m.attn_entropy, saturated += m.saturated_fraction, top += m.attn_max;
      largest = std::max(largest, m.logit_max_abs), seen += m.visible, sum += m.logit_sum, sum_sq += m.logit_sum_sq;
    }
    const double blocks = static_cast<double>(f.attention.size());  // every block has as many rows
    logit_grad_mean_->push_back(grad_mean / blocks);
    logit_grad_median_->push_back(models::median_in_place(all_rows_));
    entropy_->push_back(entropy / blocks);
    saturated_->push_back(saturated / blocks);
    attn_max_->push_back(top / blocks);
    logit_max_abs_->push_back(largest);
    const double mean = sum / seen;
    logit_std_->push_back(std::sqrt(std::max(0.0, sum_sq / seen - mean * mean)));
    output_mean_->push_back(static_cast<double>(f.logits.value().mean()));
  }

  void log_evaluation(long updates, double loss, double accuracy) {
    eval_step_->push_back(updates);
    eval_loss_->push_back(loss);
    eval_bits_->push_back(loss / std::numbers::ln2);
    eval_accuracy_->push_back(accuracy);
  }
  bool evaluated_at(long updates) const { return !eval_step_->empty() && eval_step_->back() == updates; }

 private:
  struct Block {  // a block's series, or one head's of a block
    std::vector<double>*logit_max_abs, *entropy, *saturated, *logit_grad_median;
    void push(const models::BlockAttentionMetrics& m) const {
      logit_max_abs->push_back(m.logit_max_abs);
      entropy->push_back(m.attn_entropy);
      saturated->push_back(m.saturated_fraction);
      logit_grad_median->push_back(m.logit_grad_median);
    }
  };
  io::RunRecord& record_;
  long heads_;
  std::vector<std::vector<double>*> grad_norm_;
  std::vector<Block> block_, head_;  // head_: block l's head h at l·heads + h
  std::vector<models::BlockAttentionMetrics> head_metrics_;
  std::vector<double>*loss_, *accuracy_, *grad_total_, *logit_grad_mean_, *logit_grad_median_, *saturated_, *entropy_,
      *attn_max_, *logit_std_, *logit_max_abs_, *output_mean_, *lr_, *eval_loss_, *eval_bits_, *eval_accuracy_;
  std::vector<int64_t>* eval_step_;
  std::vector<double> scratch_, all_rows_;
};

// The held-out set: eval_batches batches of windows of the corpus's held-out part, drawn once.
std::vector<models::Batch> held_out_batches(const models::TaskEntry& entry, const RunConfig& config) {
  models::TaskConfig c = config.task_config();
  c.stream = 1;
  const std::unique_ptr<models::Task> task = entry.make(c);
  std::vector<models::Batch> batches(static_cast<size_t>(config.eval_batches));
  for (models::Batch& b : batches) task->next_batch(b);
  return batches;
}

template <class S>
void store(std::vector<std::pair<std::string, Eigen::MatrixXd>>& into, const std::vector<ad::ParameterOf<S>*>& parameters) {
  for (const ad::ParameterOf<S>* p : parameters) into.emplace_back(p->name, p->value.template cast<double>());
}

template <class S>
void train_lm(const RunConfig& config, const models::TaskEntry& entry, const std::function<bool()>& should_stop,
              const StepCallback& on_step, const RunHooks& hooks, RunOutcome& out) {
  io::RunRecord& record = out.record;
  const std::unique_ptr<models::Task> task = entry.make(config.task_config());
  for (const auto& attribute : task->attributes()) record.set(attribute.name, attribute.value);
  record.set(lo::run::vocabulary, models::vocabulary_text(models::load_text_corpus(config.text)->vocabulary));
  ad::Rng rng(static_cast<uint64_t>(config.seed));
  models::LmOf<S> model(config.lm(), rng);
  const auto parameters = model.parameters();
  const auto optimizer = make_optimizer(config, query_key_weights(model));
  const ad::LrSchedule schedule{config.lr, ad::schedule_from_name(config.schedule), config.warmup_steps, config.min_lr,
                                config.steps};
  const std::vector<models::Batch> held_out = held_out_batches(entry, config);
  LmSeries series(record, parameters, config.layers, config.heads);
  ad::TapeOf<S> tape;
  tape.set_workers(hooks.workers);
  auto evaluate = [&](long updates) {
    double loss = 0.0, correct = 0.0, rows = 0.0;
    for (const models::Batch& b : held_out) {
      tape.reset();
      const auto f = model.forward(tape, b.tokens, b.labels, b.batch);
      loss += static_cast<double>(f.loss.value()(0, 0));
      correct += models::Task::accuracy(f.logits.value(), b.labels) * static_cast<double>(b.labels.size());
      rows += static_cast<double>(b.labels.size());
    }
    series.log_evaluation(updates, loss / static_cast<double>(held_out.size()), correct / rows);
  };
  evaluate(0);
  models::Batch batch;
  std::vector<double> grad_norms(parameters.size());
  double first_loss = 0.0;
  long updates = 0;
  const auto started = std::chrono::steady_clock::now();
  for (long t = 0; t < config.steps; ++t) {
    if (should_stop()) {
      out.status = RunStatus::Interrupted;
      break;
    }
    const bool log_this = t % config.log_every == 0 || t == config.steps - 1;
    const double lr_now = ad::scheduled_lr(schedule, t);
    optimizer->set_lr(lr_now);
    task->next_batch(batch);
    tape.reset();
    const models::LmForwardOf<S> f = model.forward(tape, batch.tokens, batch.labels, batch.batch);
    tape.backward(f.loss);
    const double loss = static_cast<double>(f.loss.value()(0, 0));
    for (size_t i = 0; i < parameters.size(); ++i) grad_norms[i] = static_cast<double>(parameters[i]->grad.norm());
    bool finite = std::isfinite(loss);
    for (const double g : grad_norms) finite = finite && std::isfinite(g);
    if (!finite) {
      out.status = RunStatus::Diverged;
      out.diverged_step = t;
      out.diverged_reason = std::isfinite(loss) ? "a gradient is not finite" : "the loss is not finite";
      out.message = "diverged at step " + std::to_string(t) + ": " + out.diverged_reason;
      break;
    }
    if (t == 0) first_loss = loss;
    // --diverge-factor, the attention trainer's rule (trainer.cpp's past_bound): a finite loss over that many
    // times the first stops the run. Its metrics are logged first; the update is not taken.
    if (config.diverge_factor > 0 && std::abs(loss) > config.diverge_factor * (first_loss != 0 ? std::abs(first_loss) : 1.0)) {
      if (log_this) series.log_step(t, lr_now, loss, models::Task::accuracy(f.logits.value(), batch.labels), grad_norms, f);
      out.status = RunStatus::Diverged;
      out.diverged_step = t;
      char text[96];
      std::snprintf(text, sizeof text, "loss %.3g > %.3g x the first loss %.3g", loss, config.diverge_factor, first_loss);
      out.diverged_reason = text;
      out.message = "diverged at step " + std::to_string(t) + ": " + out.diverged_reason;
      break;
    }
    if (log_this) series.log_step(t, lr_now, loss, models::Task::accuracy(f.logits.value(), batch.labels), grad_norms, f);
    ad::clip_grad_norm(parameters, config.clip_grad_norm);
    optimizer->step(parameters);
    for (ad::ParameterOf<S>* p : parameters) p->zero_grad();
    updates = t + 1;
    if (on_step) on_step(updates, loss);
    if (config.eval_every > 0 && updates % config.eval_every == 0 && updates != config.steps) evaluate(updates);
  }
  if (out.status != RunStatus::Diverged && !series.evaluated_at(updates)) evaluate(updates);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  // The final weights only (what `sandbox sample` reads): the initial ones follow from the seed.
  store(record.params_final, parameters);
  record.set(lo::run::wall_seconds, wall);
  record.set(lo::run::status, std::string(status_name(out.status)));
  if (out.status == RunStatus::Diverged) {  // as the attention trainer's runs: the layout asks for both
    record.set(lo::run::diverged_step, int64_t{out.diverged_step});
    record.set(lo::run::diverged_reason, out.diverged_reason);
  }
}

}  // namespace

RunOutcome train_lm_run(const RunConfig& config, const std::function<bool()>& should_stop, const StepCallback& on_step,
                        const RunHooks& hooks) {
  const models::TaskEntry& entry = models::task_entry(config.task);
  RunOutcome out;
  out.record.name = config.name();
  set_config_attributes(out.record, config);
  double check = std::nan("");
  if (config.gradcheck) {
    const ad::GradcheckReport report = models::gradcheck_small_lm(models::parse_scale(config.scale), static_cast<uint64_t>(config.seed) + 17);
    check = report.passed ? report.max_abs_error : std::max(report.max_abs_error, 1.0);
  }
  out.record.set(lo::run::gradcheck_max_error, check);
  if (config.float32()) train_lm<float>(config, entry, should_stop, on_step, hooks, out);
  else train_lm<double>(config, entry, should_stop, on_step, hooks, out);
  return out;
}

}  // namespace sbx
