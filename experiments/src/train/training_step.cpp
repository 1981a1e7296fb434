#include "experiments/src/train/training_step.hpp"

#include <cmath>

namespace sbx {

TrainingStep::TrainingStep(models::Attention& model, models::Task& task, ad::Optimizer& optimizer)
    : model_(model), task_(task), optimizer_(optimizer), parameters_(model.parameters()) {
  measurement_.grad_norms.resize(parameters_.size());
}

models::AttentionNodes forward_on_batch(models::Attention& model, ad::Tape& tape, const models::Batch& batch) {
  const ad::Var x = tape.constant(batch.x);
  // Cross-attention: the task's encoder sequence gives the keys and values.
  return batch.context_len > 0 ? model.forward(tape, x, tape.constant(batch.x_context), batch.batch)
                               : model.forward(tape, x, batch.batch);
}

// Only S of forward_on_batch, bit for bit (Attention::logits_only).
static models::AttentionNodes logits_on_batch(models::Attention& model, ad::Tape& tape, const models::Batch& batch) {
  const ad::Var x = tape.constant(batch.x);
  return model.logits_only(tape, x, batch.context_len > 0 ? tape.constant(batch.x_context) : x, batch.batch);
}

void TrainingStep::run(bool measure, bool update) {
  PhaseClock clock(profile_ != nullptr);
  RunProfile unused;
  RunProfile& profile = profile_ ? *profile_ : unused;
  task_.next_batch(batch_);
  clock.lap(profile.batch);
  tape_.reset();
  for (ad::Parameter* p : parameters_) p->zero_grad();
  const models::AttentionNodes nodes = forward_on_batch(model_, tape_, batch_);
  const ad::Var loss = task_.loss(tape_, nodes.output, batch_);
  tape_.backward(loss);

  const double loss_value = loss.value()(0, 0);
  finite_ = std::isfinite(loss_value);
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const double norm = parameters_[i]->grad.blueNorm();  // no overflow while the entries are finite
    measurement_.grad_norms[i] = norm;
    finite_ = finite_ && std::isfinite(norm);
  }
  measurement_.loss = loss_value;
  clock.lap(profile.step);
  if (measure) {
    meter_.measure_into(measurement_.attention, nodes, model_.config().causal ? &model_.causal_mask_in_use() : nullptr,
                        task_.classifies() ? &batch_.labels : nullptr);
    if (task_.classifies()) measurement_.accuracy = models::Task::accuracy(nodes.output.value(), batch_.labels);
    clock.lap(profile.metrics);
  }
  measurement_.logit_delta_rms = std::nan("");
  if (update && finite_) {
    if (measure) logits_before_ = nodes.logits.value();  // the storage is kept: no allocation once warmed up
    if (clip_grad_norm_ > 0) ad::clip_grad_norm(parameters_, clip_grad_norm_);
    optimizer_.step(parameters_);
    clock.lap(profile.step);
    if (measure) {
      // What the update did to S, on the same batch: the quantity whose growth with d_k the µP argument is
      // about (an Adam step moves the logits by an amount that depends on the scale, not on the gradient).
      probe_tape_.reset();
      const models::AttentionNodes after = logits_on_batch(model_, probe_tape_, batch_);
      measurement_.logit_delta_rms = models::visible_rms_change(after.logits.value(), logits_before_,
                                                                model_.config().causal ? &model_.causal_mask_in_use() : nullptr);
      clock.lap(profile.probe);
    }
  }
}

}  // namespace sbx
