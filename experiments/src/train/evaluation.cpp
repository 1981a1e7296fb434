#include "experiments/src/train/evaluation.hpp"

#include <type_traits>

#include "experiments/src/train/batch_streams.hpp"
#include "experiments/src/train/training_step.hpp"

namespace sbx {

Evaluator::Evaluator(const models::TaskEntry& task, models::TaskConfig task_config, long batches) {
  task_config.stream = kEvalStream;
  task_ = task.make(task_config);
  batches_.resize(static_cast<size_t>(batches));
  for (models::Batch& b : batches_) task_->next_batch(b);
}

Evaluator::Evaluator(const models::TaskEntry& task, models::TaskConfig task_config, long batches, BatchStreams& streams) {
  task_config.stream = kEvalStream;
  batches_ = streams.first_batches(task, task_config, batches);
  task_ = task.make(task_config);  // for the loss (its batches are not drawn)
  if (batches_.size() != static_cast<size_t>(batches)) {  // too large to share: drawn here
    batches_.resize(static_cast<size_t>(batches));
    for (models::Batch& b : batches_) task_->next_batch(b);
  }
}

template <class S>
EvalResult Evaluator::evaluate(models::AttentionOf<S>& model) {
  ad::TapeOf<S>* tape = nullptr;
  BatchInputs<double> inputs_d;  // points at the batches: nothing to keep
  BatchInputs<S>* inputs_p = nullptr;
  if constexpr (std::is_same_v<S, double>) tape = &tape_, inputs_p = &inputs_d;
  else tape = &tape_f_, inputs_p = &inputs_f_;
  BatchInputs<S>& inputs = *inputs_p;
  EvalResult result;
  double right = 0.0, labelled = 0.0;
  for (const models::Batch& b : batches_) {
    tape->reset();
    inputs.load(b);
    const models::AttentionNodesOf<S> nodes = forward_on_batch(model, *tape, b, inputs);
    result.loss += static_cast<double>(task_->loss(*tape, nodes.output, b, inputs.targets()).value()(0, 0));
    if (task_->classifies()) {
      double rows = 0.0;
      for (int label : b.labels) rows += label >= 0 ? 1.0 : 0.0;
      right += models::Task::accuracy(nodes.output.value(), b.labels) * rows;
      labelled += rows;
    }
  }
  result.loss /= static_cast<double>(batches_.size());
  result.accuracy = labelled > 0 ? right / labelled : 0.0;
  return result;
}

template EvalResult Evaluator::evaluate(models::AttentionOf<double>&);
template EvalResult Evaluator::evaluate(models::AttentionOf<float>&);

}  // namespace sbx
