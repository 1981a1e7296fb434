#include "models/tasks.hpp"

#include "models/task_streams.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace models {
namespace {

void fill_normal(ad::Rng& rng, Matrix& m, double std = 1.0) {
  std::normal_distribution<double> normal(0.0, std);
  for (Eigen::Index i = 0; i < m.size(); ++i) m(i) = normal(rng);
}

void size_batch(Batch& b, const TaskConfig& c, Eigen::Index d_out, bool classifies) {
  b.batch = c.batch;
  b.seq_len = c.seq_len;
  b.x.resize(c.batch * c.seq_len, c.d_model);
  b.context_len = c.context_len;
  if (c.context_len > 0) b.x_context.resize(c.batch * c.context_len, c.d_model);
  if (classifies) b.labels.assign(static_cast<size_t>(c.batch * c.seq_len), -1);
  else b.targets.resize(c.batch * c.seq_len, d_out);
}

// teacher: X ~ N(0, 1) (and the encoder's X_c for cross-attention); Y from a fixed random attention layer
// of the student's shapes and heads with scale sqrt. The student can represent the teacher exactly, so
// zero loss is reachable.
class TeacherTask final : public Task {
 public:
  explicit TeacherTask(const TaskConfig& c)
      : config_(c), rng_(data_seed(c)), teacher_rng_(c.seed * 2 + 0x7eac4e50ULL), teacher_(teacher_config(c), teacher_rng_) {}
  std::string name() const override { return "teacher"; }
  bool classifies() const override { return false; }
  Eigen::Index output_width() const override { return config_.d_out > 0 ? config_.d_out : config_.heads * config_.d_v; }
  void set_workers(ad::Workers* workers) override { tape_.set_workers(workers); }
  void next_batch(Batch& b) override {
    size_batch(b, config_, output_width(), false);
    fill_normal(rng_, b.x);
    tape_.reset();
    if (config_.context_len > 0) fill_normal(rng_, b.x_context);
    const ad::Var x = tape_.constant(b.x);
    const AttentionNodes nodes = config_.context_len > 0 ? teacher_.forward(tape_, x, tape_.constant(b.x_context), b.batch)
                                                         : teacher_.forward(tape_, x, b.batch);
    b.targets = nodes.output.value();
  }

 private:
  static AttentionConfig teacher_config(const TaskConfig& c) {
    AttentionConfig a;
    a.d_model = c.d_model, a.d_k = c.d_k, a.d_v = c.d_v, a.d_out = c.d_out, a.causal = c.causal, a.heads = c.heads;
    a.scale = ScaleMode::Sqrt;
    return a;
  }
  TaskConfig config_;
  ad::Rng rng_;
  ad::Rng teacher_rng_;  // declared before teacher_, which is drawn from it
  Attention teacher_;
  ad::Tape tape_;
};

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
  if (classifies()) return ad::cross_entropy(prediction, batch.labels);
  return ad::mean_squared_error(prediction, tape.constant(batch.targets));
}

double Task::accuracy(const Matrix& logits, const std::vector<int>& labels) {
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

const std::vector<std::string>& task_names() {
  static const std::vector<std::string> names = {"teacher", "recall", "sense", "lookup"};
  return names;
}

std::unique_ptr<Task> make_task(const std::string& name, const TaskConfig& config) {
  if (name == "teacher") return std::make_unique<TeacherTask>(config);
  if (name == "recall") return std::make_unique<RecallTask>(config);
  if (name == "sense") return std::make_unique<SenseTask>(config);
  if (name == "lookup") return std::make_unique<LookupTask>(config);
  throw std::invalid_argument("unknown task '" + name + "' (choose teacher, recall, sense or lookup)");
}

Eigen::Index task_output_width(const std::string& name, const TaskConfig& config) {
  if (name == "teacher") return config.d_out;  // 0: no W^O, the output is Z itself
  if (name == "sense") return 2;
  if (name == "recall" || name == "lookup") return config.d_out > 0 ? config.d_out : 8;
  throw std::invalid_argument("unknown task '" + name + "' (choose teacher, recall, sense or lookup)");
}

}  // namespace models

namespace models {

// Kept next to the tasks: a field a task starts to read must be kept here too (the logged-numbers test,
// whose sweeps vary d_k, heads and the mask of every task, fails otherwise).
TaskConfig stream_identity(const std::string& task_name, TaskConfig config) {
  if (task_name == "teacher") return config;  // a teacher of the student's exact shapes, heads and mask
  const TaskConfig defaults;
  config.d_k = defaults.d_k, config.d_v = defaults.d_v, config.heads = defaults.heads;
  if (task_name == "recall" || task_name == "lookup") config.causal = defaults.causal;
  if (task_name == "sense") config.d_out = defaults.d_out;  // always 2 classes
  return config;
}

}  // namespace models
