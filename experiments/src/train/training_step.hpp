#pragma once
// One training step: the task makes a batch, the model computes, the engine differentiates, the
// optimizer steps. Everything it needs is allocated by the first step and reused after, so a warmed-up
// step performs no heap allocation (sandbox bench counts them).
//
// The step runs in either precision (TrainingStepOf<S>, compiled for float and double): TrainingStep is
// the double one. The batch is double either way (batch_inputs.hpp converts it for a float graph); the
// measurements are double.
#include <vector>

#include "autodiff/optim.hpp"
#include "models/attention.hpp"
#include "models/attention_metrics.hpp"
#include "models/tasks.hpp"
#include "experiments/src/train/batch_inputs.hpp"
#include "experiments/src/train/run_profile.hpp"

namespace sbx {

struct StepMeasurement {
  double loss = 0.0;
  std::vector<double> grad_norms;  // Frobenius norms, in the order of model.parameters()
  models::AttentionMetrics attention;
  double accuracy = 0.0;  // classification tasks only
  // With `measure`: the rms change of the scaled logits S over this step's update, on this step's batch
  // (a second forward pass after the update); NaN when no update was applied.
  double logit_delta_rms = 0.0;
};

// The model's forward pass on a batch: self-attention over batch.x, or cross-attention from batch.x to the
// encoder sequence batch.x_context when the task made one. `inputs` holds the batch loaded in S.
template <class S>
models::AttentionNodesOf<S> forward_on_batch(models::AttentionOf<S>& model, ad::TapeOf<S>& tape, const models::Batch& batch,
                                             const BatchInputs<S>& inputs);
// The double form, on the batch itself.
models::AttentionNodes forward_on_batch(models::Attention& model, ad::Tape& tape, const models::Batch& batch);

template <class S>
class TrainingStepOf {
 public:
  using Parameter = ad::ParameterOf<S>;

  TrainingStepOf(models::AttentionOf<S>& model, models::Task& task, ad::OptimizerOf<S>& optimizer);

  // Runs one step. The loss and gradient norms are always measured (divergence is checked every step);
  // with `measure` the attention metrics and accuracy are too. All of it is taken on this step's batch
  // with the parameters before the update; the update is skipped when `update` is false.
  void run(bool measure, bool update = true);
  const StepMeasurement& measurement() const { return measurement_; }
  // True when the loss and every gradient of the last step are finite.
  bool finite() const { return finite_; }
  const models::Batch& batch() const { return batch_; }
  // Clip the global gradient norm to this before each update (≤ 0: off). The logged gradient norms are
  // the ones before clipping.
  void set_clip_grad_norm(double max_norm) { clip_grad_norm_ = max_norm; }
  // Adds each step's phase times (batch, step, metrics, probe) to `profile` (null: not timed).
  void set_profile(RunProfile* profile) { profile_ = profile; }
  // Splits the step's products and passes over a team (null: this thread); the same bits either way.
  void set_workers(ad::Workers* workers) {
    tape_.set_workers(workers);
    probe_tape_.set_workers(workers);
  }

 private:
  models::AttentionOf<S>& model_;
  models::Task& task_;
  ad::OptimizerOf<S>& optimizer_;
  std::vector<Parameter*> parameters_;
  ad::TapeOf<S> tape_;
  ad::TapeOf<S> probe_tape_;  // the forward pass after the update, for logit_delta_rms
  ad::MatrixOf<S> logits_before_;
  models::Batch batch_;
  BatchInputs<S> inputs_;
  models::AttentionMeter meter_;
  StepMeasurement measurement_;
  bool finite_ = true;
  double clip_grad_norm_ = 0.0;
  RunProfile* profile_ = nullptr;
};

extern template class TrainingStepOf<double>;
extern template class TrainingStepOf<float>;
using TrainingStep = TrainingStepOf<double>;
using TrainingStepF = TrainingStepOf<float>;

}  // namespace sbx
