#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "models/tasks/batch_filling.hpp"
#include "models/tasks/builtin_tasks.hpp"

namespace models {
namespace {

// lookup (encoder–decoder attention, the seq2seq seed): the encoder sequence holds context_len key/value
// pairs, one per position (its embedding is the sum of its key's and its value's, over √2), with keys
// distinct within a sequence and values spread evenly over the positions (a shuffled round of all values,
// repeated when context_len > values); every decoder position holds the embedding of one of those keys, drawn
// with replacement, and its label is the value paired with it. The decoder's input reaches the output
// only through the attention weights (Ŷ = A·V W^O, V from the encoder), so a decoder position must
// attend to the encoder position of its key.
// Chance is 1/values. With uniform attention every decoder position of a sequence gets the same output,
// so it can at best name one of the commonest values of the encoder sequence: right ⌈m/values⌉/m of
// the time for m = context_len ≥ values, and exactly chance when m is a multiple of the values (every
// value as common as any other: the encoder's average is then the same for every sequence).
class LookupTask final : public Task {
 public:
  explicit LookupTask(const TaskConfig& c) : config_(c), rng_(data_seed(c)) {
    if (c.context_len < 1) throw std::invalid_argument("task lookup needs cross-attention (--model cross --context-len N)");
    ad::Rng embed_rng(0x100c0bULL);  // fixed token embeddings, the same for every seed
    keys_ = std::max<Eigen::Index>(2 * c.context_len, 8);
    key_embedding_ = ad::random_normal(embed_rng, keys_, c.d_model);
    value_embedding_ = ad::random_normal(embed_rng, output_width(), c.d_model);
    order_.resize(static_cast<size_t>(keys_));
    values_.resize(static_cast<size_t>(output_width()));
  }
  std::string name() const override { return "lookup"; }
  bool classifies() const override { return true; }
  Eigen::Index output_width() const override { return config_.d_out > 0 ? config_.d_out : 8; }
  std::vector<Attribute> attributes() const override {
    return {{"lookup_keys", static_cast<double>(keys_)},
            {"lookup_values", static_cast<double>(output_width())},
            {"chance_accuracy", 1.0 / static_cast<double>(output_width())}};
  }
  void next_batch(Batch& b) override {
    size_batch(b, config_, output_width(), true);
    std::uniform_int_distribution<Eigen::Index> pick(0, config_.context_len - 1);
    const size_t values = values_.size();
    const double pair_norm = 1.0 / std::sqrt(2.0);  // a sum of two unit-variance embeddings, back to unit variance
    for (Eigen::Index s = 0; s < b.batch; ++s) {
      std::iota(order_.begin(), order_.end(), 0);
      std::shuffle(order_.begin(), order_.end(), rng_);  // distinct keys within a sequence
      std::iota(values_.begin(), values_.end(), 0);
      std::shuffle(values_.begin(), values_.end(), rng_);  // position j holds value values_[j mod values]
      for (Eigen::Index j = 0; j < config_.context_len; ++j) {
        const int v = values_[static_cast<size_t>(j) % values];
        b.x_context.row(s * config_.context_len + j) = (key_embedding_.row(order_[static_cast<size_t>(j)]) + value_embedding_.row(v)) * pair_norm;
      }
      for (Eigen::Index i = 0; i < config_.seq_len; ++i) {
        const Eigen::Index asked = pick(rng_);
        b.x.row(s * config_.seq_len + i) = key_embedding_.row(order_[static_cast<size_t>(asked)]);
        b.labels[static_cast<size_t>(s * config_.seq_len + i)] = values_[static_cast<size_t>(asked) % values];
      }
    }
  }

 private:
  TaskConfig config_;
  ad::Rng rng_;
  Eigen::Index keys_ = 0;
  Matrix key_embedding_, value_embedding_;
  std::vector<Eigen::Index> order_;
  std::vector<int> values_;
};

}  // namespace

TaskEntry lookup_task() {
  TaskEntry e;
  e.name = "lookup";
  e.models = {"cross"};
  e.wrong_model_error = "--task lookup needs --model cross (and --context-len)";
  e.make = [](const TaskConfig& c) { return std::make_unique<LookupTask>(c); };
  e.output_width = [](const TaskConfig& c) { return c.d_out > 0 ? c.d_out : Eigen::Index{8}; };
  e.stream_identity = [](TaskConfig c) {
    c = without_model_shapes(c);
    c.causal = TaskConfig().causal;  // its batches never read the mask
    return c;
  };
  e.check = [](const TaskConfig& c) {
    // One class would be a task without a question: every label 0, a loss of 0 from the first step.
    return c.d_out == 1 ? std::string("--d-out: task lookup needs at least 2 classes (values); leave it unset for 8") : std::string();
  };
  return e;
}

}  // namespace models
