#pragma once
// Toy tasks: seeded generators of batches. A task owns its randomness and fills a Batch in place, so that
// a warmed-up training step allocates nothing. Tasks know nothing of models or training: they only make
// data and say how to score a prediction.
#include <memory>
#include <string>
#include <vector>

#include "autodiff/random.hpp"
#include "models/attention.hpp"

namespace models {

struct Batch {
  Eigen::Index batch = 0, seq_len = 0;
  Eigen::Index context_len = 0;  // encoder positions per sequence for cross-attention; 0: self-attention
  Matrix x;                 // (batch·seq_len) × d_model inputs (the decoder's, for cross-attention)
  Matrix x_context;         // (batch·context_len) × d_model encoder inputs, for cross-attention only
  Matrix targets;           // regression targets (batch·seq_len) × d_out, when the task regresses
  std::vector<int> labels;  // class per row, −1 where the row is not scored, when the task classifies
  std::vector<int> tokens;  // token per row, for a model that embeds its input (task text; x is then empty)
};

struct TaskConfig {
  Eigen::Index d_model = 16, d_k = 8, d_v = 8, d_out = 0, seq_len = 8, batch = 8;
  Eigen::Index heads = 1;
  Eigen::Index context_len = 0;  // > 0: cross-attention, the encoder sequence's length
  bool causal = false;
  double teacher_temperature = 1.0;  // task teacher: its logits are QKᵀ/(T·√d_k)
  std::string text = "fortunes";  // task text: the corpus file, or "fortunes" (models/text_corpus.hpp)
  uint64_t seed = 0;
  // Which stream of batches: 0 is the training data; any other value gives an independent stream of the
  // same task (the same teacher, the same embeddings) for held-out evaluation. The stream depends only on
  // the seed and this number, never on the model's settings, so every scale mode and learning rate of
  // one seed is evaluated on the same data.
  uint64_t stream = 0;
};

// The seed of a task's batch generator for a configuration's seed and stream.
uint64_t data_seed(const TaskConfig& config);

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;
  virtual bool classifies() const = 0;
  // The width of the model's output the task scores (the number of classes when it classifies).
  virtual Eigen::Index output_width() const = 0;
  virtual void next_batch(Batch& batch) = 0;
  // A team for the task's own forward passes (the teacher's); batches are the same bits either way.
  virtual void set_workers(ad::Workers*) {}
  // The loss of a prediction on a batch: mean squared error or cross-entropy on the labelled rows.
  ad::Var loss(ad::Tape& tape, ad::Var prediction, const Batch& batch) const;
  // The same in either precision, with the regression targets given in the tape's scalar (batches are
  // double; a float run converts them into a buffer it keeps). Compiled for float and double.
  template <class S>
  ad::VarOf<S> loss(ad::TapeOf<S>& tape, ad::VarOf<S> prediction, const Batch& batch, const ad::MatrixOf<S>& targets) const;
  // Numbers that define the task beyond the run's configuration (stored as run attributes).
  struct Attribute {
    std::string name;
    double value;
  };
  virtual std::vector<Attribute> attributes() const { return {}; }
  // Share of labelled rows whose largest logit is the label (classification tasks only).
  template <class S>
  static double accuracy(const ad::MatrixOf<S>& logits, const std::vector<int>& labels);
};

// The registered tasks by name (models/task_registry.hpp holds their entries): teacher, recall, sense
// (self-attention), lookup (cross-attention); teacher works with both.
std::vector<std::string> task_names();
// Throws std::invalid_argument for an unknown name or a configuration the task cannot use.
std::unique_ptr<Task> make_task(const std::string& name, const TaskConfig& config);
// The model output width a task wants for a configuration (d_out of the teacher, classes otherwise).
Eigen::Index task_output_width(const std::string& name, const TaskConfig& config);

}  // namespace models
