#include "experiments/src/train/training_step.hpp"

#include <cmath>

namespace sbx {

template <class S>
TrainingStepOf<S>::TrainingStepOf(models::AttentionOf<S>& model, models::Task& task, ad::OptimizerOf<S>& optimizer)
    : model_(model), task_(task), optimizer_(optimizer), parameters_(model.parameters()) {
  measurement_.grad_norms.resize(parameters_.size());
}

template <class S>
models::AttentionNodesOf<S> forward_on_batch(models::AttentionOf<S>& model, ad::TapeOf<S>& tape, const models::Batch& batch,
                                             const BatchInputs<S>& inputs) {
  const ad::VarOf<S> x = tape.constant(inputs.x());
  // Cross-attention: the task's encoder sequence gives the keys and values.
  return batch.context_len > 0 ? model.forward(tape, x, tape.constant(inputs.x_context()), batch.batch)
                               : model.forward(tape, x, batch.batch);
}

models::AttentionNodes forward_on_batch(models::Attention& model, ad::Tape& tape, const models::Batch& batch) {
  BatchInputs<double> inputs;
  inputs.load(batch);
  return forward_on_batch(model, tape, batch, inputs);
}

// Only S of forward_on_batch, bit for bit (Attention::logits_only).
template <class S>
static models::AttentionNodesOf<S> logits_on_batch(models::AttentionOf<S>& model, ad::TapeOf<S>& tape,
                                                   const models::Batch& batch, const BatchInputs<S>& inputs) {
  const ad::VarOf<S> x = tape.constant(inputs.x());
  return model.logits_only(tape, x, batch.context_len > 0 ? tape.constant(inputs.x_context()) : x, batch.batch);
}

template <class S>
void TrainingStepOf<S>::run(bool measure, bool update) {
  PhaseClock clock(profile_ != nullptr);
  RunProfile unused;
  RunProfile& profile = profile_ ? *profile_ : unused;
  task_.next_batch(batch_);
  inputs_.load(batch_);
  clock.lap(profile.batch);
  tape_.reset();
  for (Parameter* p : parameters_) p->zero_grad();
  const models::AttentionNodesOf<S> nodes = forward_on_batch(model_, tape_, batch_, inputs_);
  const ad::VarOf<S> loss = task_.loss(tape_, nodes.output, batch_, inputs_.targets());
  tape_.backward(loss);

  const double loss_value = static_cast<double>(loss.value()(0, 0));
  finite_ = std::isfinite(loss_value);
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const double norm = static_cast<double>(parameters_[i]->grad.blueNorm());  // no overflow while the entries are finite
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
      const models::AttentionNodesOf<S> after = logits_on_batch(model_, probe_tape_, batch_, inputs_);
      measurement_.logit_delta_rms = models::visible_rms_change(after.logits.value(), logits_before_,
                                                                model_.config().causal ? &model_.causal_mask_in_use() : nullptr);
      clock.lap(profile.probe);
    }
  }
}

template models::AttentionNodesOf<double> forward_on_batch(models::AttentionOf<double>&, ad::TapeOf<double>&,
                                                           const models::Batch&, const BatchInputs<double>&);
template models::AttentionNodesOf<float> forward_on_batch(models::AttentionOf<float>&, ad::TapeOf<float>&,
                                                          const models::Batch&, const BatchInputs<float>&);
template class TrainingStepOf<double>;
template class TrainingStepOf<float>;

}  // namespace sbx
