// text: next-character prediction on a corpus (models/text_corpus.hpp), for the language model. Each sequence is
// a window of seq_len characters at a random place of the corpus's training part (stream 0) or of its held-out
// part (any other stream: the evaluation's); row i's label is the character after token i.
#include <stdexcept>

#include "models/tasks/builtin_tasks.hpp"
#include "models/text_corpus.hpp"

namespace models {
namespace {

class TextTask final : public Task {
 public:
  explicit TextTask(const TaskConfig& c)
      : config_(c), corpus_(load_text_corpus(c.text, c.seq_len + 1)), rng_(data_seed(c)) {}
  std::string name() const override { return "text"; }
  bool classifies() const override { return true; }
  Eigen::Index output_width() const override { return static_cast<Eigen::Index>(corpus_->vocabulary.size()); }
  void next_batch(Batch& b) override {
    const std::vector<int>& source = config_.stream == 0 ? corpus_->train : corpus_->held_out;
    const Eigen::Index n = config_.seq_len;
    b.batch = config_.batch;
    b.seq_len = n;
    b.context_len = 0;
    b.x.resize(0, 0);
    b.tokens.resize(static_cast<size_t>(config_.batch * n));
    b.labels.resize(b.tokens.size());
    std::uniform_int_distribution<size_t> start(0, source.size() - static_cast<size_t>(n) - 1);
    for (Eigen::Index s = 0; s < b.batch; ++s) {
      const size_t at = start(rng_);
      for (Eigen::Index i = 0; i < n; ++i) {
        const size_t row = static_cast<size_t>(s * n + i);
        b.tokens[row] = source[at + static_cast<size_t>(i)];
        b.labels[row] = source[at + static_cast<size_t>(i) + 1];
      }
    }
  }
  std::vector<Attribute> attributes() const override {
    return {{"unigram_entropy_bits", corpus_->unigram_entropy_bits},
            {"vocab_size", static_cast<double>(corpus_->vocabulary.size())},
            {"corpus_chars", static_cast<double>(corpus_->bytes)}};
  }

 private:
  TaskConfig config_;
  std::shared_ptr<const TextCorpus> corpus_;
  ad::Rng rng_;
};

}  // namespace

TaskEntry text_task() {
  TaskEntry e;
  e.name = "text";
  e.models = {"lm"};
  e.wrong_model_error = "--task text is for --model lm";
  e.make = [](const TaskConfig& c) { return std::make_unique<TextTask>(c); };
  e.output_width = [](const TaskConfig& c) {
    return static_cast<Eigen::Index>(load_text_corpus(c.text, c.seq_len + 1)->vocabulary.size());
  };
  e.stream_identity = [](TaskConfig c) {  // windows of the corpus: its path, the length, the batch, the seed
    const TaskConfig defaults;
    c.d_model = defaults.d_model, c.d_k = defaults.d_k, c.d_v = defaults.d_v, c.heads = defaults.heads;
    c.d_out = defaults.d_out, c.causal = defaults.causal;
    return c;
  };
  e.check = [](const TaskConfig& c) {
    try {
      load_text_corpus(c.text, c.seq_len + 1);
    } catch (const std::invalid_argument& error) {
      return std::string(error.what());
    }
    return std::string();
  };
  return e;
}

}  // namespace models
