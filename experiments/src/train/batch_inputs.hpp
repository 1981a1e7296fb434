#pragma once
// A task's batch as the inputs of a graph of scalar S. Tasks make double batches; a double graph reads
// them as they are, a float graph reads a float copy kept here, whose storage is reused from batch to
// batch (a warmed-up float step allocates nothing).
#include <type_traits>

#include "models/tasks.hpp"

namespace sbx {

template <class S>
class BatchInputs {
 public:
  // Takes `batch` (which must outlive the use of x(), x_context() and targets() when S is double).
  void load(const models::Batch& batch) {
    if constexpr (std::is_same_v<S, double>) {
      x_ = &batch.x;
      x_context_ = &batch.x_context;
      targets_ = &batch.targets;
    } else {
      x_copy_ = batch.x.cast<S>();  // same size as last time: no allocation
      x_context_copy_ = batch.x_context.cast<S>();
      targets_copy_ = batch.targets.cast<S>();
      x_ = &x_copy_;
      x_context_ = &x_context_copy_;
      targets_ = &targets_copy_;
    }
  }
  const ad::MatrixOf<S>& x() const { return *x_; }
  const ad::MatrixOf<S>& x_context() const { return *x_context_; }
  const ad::MatrixOf<S>& targets() const { return *targets_; }

 private:
  const ad::MatrixOf<S>* x_ = nullptr;
  const ad::MatrixOf<S>* x_context_ = nullptr;
  const ad::MatrixOf<S>* targets_ = nullptr;
  ad::MatrixOf<S> x_copy_, x_context_copy_, targets_copy_;  // float only
};

}  // namespace sbx
