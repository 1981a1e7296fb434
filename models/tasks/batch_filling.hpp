#pragma once
// What every task does to a batch before filling it, shared by the task files.
#include <random>

#include "models/tasks.hpp"

namespace models {

inline void fill_normal(ad::Rng& rng, Matrix& m, double std = 1.0) {
  std::normal_distribution<double> normal(0.0, std);
  for (Eigen::Index i = 0; i < m.size(); ++i) m(i) = normal(rng);
}

// Sizes `b` for the configuration (a no-op once warmed up, so that a step allocates nothing); labels are
// reset to −1 (unscored) for a task that classifies.
inline void size_batch(Batch& b, const TaskConfig& c, Eigen::Index d_out, bool classifies) {
  b.batch = c.batch;
  b.seq_len = c.seq_len;
  b.x.resize(c.batch * c.seq_len, c.d_model);
  b.context_len = c.context_len;
  if (c.context_len > 0) b.x_context.resize(c.batch * c.context_len, c.d_model);
  if (classifies) b.labels.assign(static_cast<size_t>(c.batch * c.seq_len), -1);
  else b.targets.resize(c.batch * c.seq_len, d_out);
}

// The fields every task but the teacher ignores: the student's per-head widths and its heads.
inline TaskConfig without_model_shapes(TaskConfig config) {
  const TaskConfig defaults;
  config.d_k = defaults.d_k, config.d_v = defaults.d_v, config.heads = defaults.heads;
  return config;
}

}  // namespace models
