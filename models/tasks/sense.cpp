#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "models/tasks/batch_filling.hpp"
#include "models/tasks/builtin_tasks.hpp"

namespace models {
namespace {

// sense: the seeds' "apple" example learned. Each sequence has one ambiguous token ("apple", halfway
// between the fruit and the phone directions) at a random position, among context tokens: some words of
// one class (fruit or phone) and neutral filler. The label, scored on the ambiguous token's row, is the
// class of the context: attention has to re-encode the ambiguous token by what surrounds it.
class SenseTask final : public Task {
 public:
  explicit SenseTask(const TaskConfig& c) : config_(c), rng_(data_seed(c)) {
    if (c.seq_len < 2) throw std::invalid_argument("task sense needs --seq-len of at least 2");
    if (c.context_len > 0) throw std::invalid_argument("task sense is for self-attention (no --context-len)");
    if (c.d_out != 0 && c.d_out != 2) throw std::invalid_argument("task sense has 2 classes: leave --d-out unset or 2");
    ad::Rng embed_rng(0x5e75eULL);
    const Matrix directions = ad::random_normal(embed_rng, 2, c.d_model);
    fruit_ = directions.row(0);
    phone_ = directions.row(1);
    constexpr int kWords = 6;  // words per class: directions plus word-specific noise
    words_[0] = ad::random_normal(embed_rng, kWords, c.d_model, 0.5).rowwise() + fruit_.row(0);
    words_[1] = ad::random_normal(embed_rng, kWords, c.d_model, 0.5).rowwise() + phone_.row(0);
    filler_ = ad::random_normal(embed_rng, kWords, c.d_model);
    ambiguous_ = (fruit_ + phone_) / 2.0;
  }
  std::string name() const override { return "sense"; }
  bool classifies() const override { return true; }
  Eigen::Index output_width() const override { return 2; }
  void next_batch(Batch& b) override {
    size_batch(b, config_, output_width(), true);
    std::bernoulli_distribution coin(0.5);
    std::uniform_int_distribution<Eigen::Index> position(0, config_.seq_len - 1);
    std::uniform_int_distribution<Eigen::Index> word(0, words_[0].rows() - 1);
    for (Eigen::Index s = 0; s < b.batch; ++s) {
      const int label = coin(rng_) ? 1 : 0;
      const Eigen::Index row0 = s * config_.seq_len;
      // With a causal mask the ambiguous token must come after its context, so it sits last.
      const Eigen::Index at = config_.causal ? config_.seq_len - 1 : position(rng_);
      // At least one class word (at a random position other than the ambiguous token's), the other
      // context positions each a class word or filler with even odds.
      Eigen::Index sure = position(rng_);
      if (sure == at) sure = (at + 1) % config_.seq_len;
      for (Eigen::Index i = 0; i < config_.seq_len; ++i) {
        if (i == at) continue;
        const bool class_word = i == sure || coin(rng_);
        b.x.row(row0 + i) = class_word ? words_[label].row(word(rng_)) : filler_.row(word(rng_));
      }
      b.x.row(row0 + at) = ambiguous_;
      b.labels[static_cast<size_t>(row0 + at)] = label;
    }
  }

 private:
  TaskConfig config_;
  ad::Rng rng_;
  Matrix fruit_, phone_, ambiguous_, filler_;
  Matrix words_[2];
};

}  // namespace

TaskEntry sense_task() {
  TaskEntry e;
  e.name = "sense";
  e.models = {"self_attention"};
  e.wrong_model_error = "--task sense is for self_attention, not --model cross";
  e.make = [](const TaskConfig& c) { return std::make_unique<SenseTask>(c); };
  e.output_width = [](const TaskConfig&) { return Eigen::Index{2}; };
  e.stream_identity = [](TaskConfig c) {
    c = without_model_shapes(c);
    c.d_out = TaskConfig().d_out;  // always 2 classes
    return c;
  };
  e.check = [](const TaskConfig& c) {
    if (c.seq_len < 2) return std::string("--seq-len must be at least 2 for task sense");
    if (c.d_out != 0 && c.d_out != 2) return std::string("--d-out: task sense has 2 classes (leave it unset or 2)");
    return std::string();
  };
  return e;
}

}  // namespace models
