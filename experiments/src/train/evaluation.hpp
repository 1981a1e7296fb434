#pragma once
// Held-out evaluation: a fixed set of batches drawn once, at the start of a run, from a stream of the task
// that is independent of the training batches and of the model (TaskConfig::stream), and a forward pass
// over all of them with the current parameters. Final quality is read from here, not from one training
// batch.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "experiments/src/train/batch_inputs.hpp"
#include "models/attention.hpp"
#include "models/task_registry.hpp"

namespace sbx {

class BatchStreams;

struct EvalResult {
  double loss = 0.0;      // mean over the evaluation batches of the task's loss
  double accuracy = 0.0;  // classification tasks: share of all labelled rows predicted right
};

// The stream number of the evaluation data (see models::TaskConfig::stream).
inline constexpr uint64_t kEvalStream = 1;

class Evaluator {
 public:
  // Draws `batches` batches from stream kEvalStream of the task described by `task_config`.
  Evaluator(const models::TaskEntry& task, models::TaskConfig task_config, long batches);
  // The same batches, taken from (and shared through) a sweep's batch streams.
  Evaluator(const models::TaskEntry& task, models::TaskConfig task_config, long batches, BatchStreams& streams);

  // A forward pass over the evaluation batches in the model's precision (float and double compiled).
  template <class S>
  EvalResult evaluate(models::AttentionOf<S>& model);
  void set_workers(ad::Workers* workers) {
    tape_.set_workers(workers);
    tape_f_.set_workers(workers);
  }
  const std::vector<models::Batch>& batches() const { return batches_; }

 private:
  std::unique_ptr<models::Task> task_;
  std::vector<models::Batch> batches_;
  ad::Tape tape_;
  ad::TapeF tape_f_;  // for a float model
  BatchInputs<float> inputs_f_;  // its batches rounded to float, storage kept between evaluations
};

}  // namespace sbx
