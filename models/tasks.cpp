#include "models/tasks.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace models {

uint64_t data_seed(const TaskConfig& config) {
  const uint64_t training = config.seed * 2 + 1;  // the training stream, as it has always been
  if (config.stream == 0) return training;
  // splitmix64 of the training seed and the stream number: a generator state unrelated to the training one.
  uint64_t z = training + config.stream * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

ad::Var Task::loss(ad::Tape& tape, ad::Var prediction, const Batch& batch) const {
  return loss(tape, prediction, batch, batch.targets);
}

template <class S>
ad::VarOf<S> Task::loss(ad::TapeOf<S>& tape, ad::VarOf<S> prediction, const Batch& batch, const ad::MatrixOf<S>& targets) const {
  if (classifies()) return ad::cross_entropy(prediction, batch.labels);
  return ad::mean_squared_error(prediction, tape.constant(targets));
}

template <class S>
double Task::accuracy(const ad::MatrixOf<S>& logits, const std::vector<int>& labels) {
  double right = 0.0, counted = 0.0;
  for (Eigen::Index r = 0; r < logits.rows(); ++r) {
    const int label = labels[static_cast<size_t>(r)];
    if (label < 0) continue;
    Eigen::Index best = 0;
    logits.row(r).maxCoeff(&best);
    right += best == label ? 1.0 : 0.0;
    counted += 1.0;
  }
  return counted > 0 ? right / counted : 0.0;
}

template ad::Var Task::loss(ad::Tape&, ad::Var, const Batch&, const ad::Matrix&) const;
template ad::VarF Task::loss(ad::TapeF&, ad::VarF, const Batch&, const ad::MatrixF&) const;
template double Task::accuracy(const ad::Matrix&, const std::vector<int>&);
template double Task::accuracy(const ad::MatrixF&, const std::vector<int>&);

}  // namespace models
