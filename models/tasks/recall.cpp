#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "models/tasks/batch_filling.hpp"
#include "models/tasks/builtin_tasks.hpp"

namespace models {
namespace {

// recall (associative recall): each sequence holds seq_len − 1 key/value pairs, one pair per position
// (the position's embedding is the sum of its key's and its value's embeddings), followed by a query
// position holding a key seen earlier in the sequence. The target, scored on the query row only, is the
// value paired with that key: attention must find the matching key and copy its value.
class RecallTask final : public Task {
 public:
  explicit RecallTask(const TaskConfig& c) : config_(c), rng_(data_seed(c)) {
    if (c.seq_len < 2) throw std::invalid_argument("task recall needs --seq-len of at least 2");
    if (c.context_len > 0) throw std::invalid_argument("task recall is for self-attention (no --context-len)");
    ad::Rng embed_rng(0x5eca11ULL);  // fixed token embeddings, the same for every seed
    keys_ = std::max<Eigen::Index>(2 * (c.seq_len - 1), 8);
    key_embedding_ = ad::random_normal(embed_rng, keys_, c.d_model);
    value_embedding_ = ad::random_normal(embed_rng, output_width(), c.d_model);
    query_marker_ = ad::random_normal(embed_rng, 1, c.d_model);
    order_.resize(static_cast<size_t>(keys_));
  }
  std::string name() const override { return "recall"; }
  bool classifies() const override { return true; }
  Eigen::Index output_width() const override { return config_.d_out > 0 ? config_.d_out : 8; }
  void next_batch(Batch& b) override {
    size_batch(b, config_, output_width(), true);
    std::uniform_int_distribution<int> value(0, static_cast<int>(output_width()) - 1);
    const Eigen::Index pairs = config_.seq_len - 1;
    std::uniform_int_distribution<Eigen::Index> pick(0, pairs - 1);
    for (Eigen::Index s = 0; s < b.batch; ++s) {
      std::iota(order_.begin(), order_.end(), 0);
      std::shuffle(order_.begin(), order_.end(), rng_);  // distinct keys within a sequence
      const Eigen::Index row0 = s * config_.seq_len;
      int asked_value = 0;
      const Eigen::Index asked = pick(rng_);
      for (Eigen::Index i = 0; i < pairs; ++i) {
        const int v = value(rng_);
        if (i == asked) asked_value = v;
        b.x.row(row0 + i) = key_embedding_.row(order_[static_cast<size_t>(i)]) + value_embedding_.row(v);
      }
      b.x.row(row0 + pairs) = key_embedding_.row(order_[static_cast<size_t>(asked)]) + query_marker_;
      b.labels[static_cast<size_t>(row0 + pairs)] = asked_value;
    }
    b.x /= std::sqrt(2.0);  // a sum of two unit-variance embeddings, brought back to unit variance
  }

 private:
  TaskConfig config_;
  ad::Rng rng_;
  Eigen::Index keys_ = 0;
  Matrix key_embedding_, value_embedding_, query_marker_;
  std::vector<Eigen::Index> order_;
};

}  // namespace

TaskEntry recall_task() {
  TaskEntry e;
  e.name = "recall";
  e.models = {"self_attention"};
  e.wrong_model_error = "--task recall is for self_attention, not --model cross";
  e.make = [](const TaskConfig& c) { return std::make_unique<RecallTask>(c); };
  e.output_width = [](const TaskConfig& c) { return c.d_out > 0 ? c.d_out : Eigen::Index{8}; };
  e.stream_identity = [](TaskConfig c) {
    c = without_model_shapes(c);
    c.causal = TaskConfig().causal;  // its batches never read the mask
    return c;
  };
  e.check = [](const TaskConfig& c) {
    if (c.seq_len < 2) return std::string("--seq-len must be at least 2 for task recall");
    // One class would be a task without a question: every label 0, a loss of 0 from the first step.
    if (c.d_out == 1) return std::string("--d-out: task recall needs at least 2 classes (values); leave it unset for 8");
    return std::string();
  };
  return e;
}

}  // namespace models
