#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "models/tasks/batch_filling.hpp"
#include "models/tasks/builtin_tasks.hpp"

namespace models {
namespace {

// teacher: X ~ N(0, 1) (and the encoder's X_c for cross-attention); Y from a fixed random attention layer
// of the student's shapes and heads with scale sqrt and a temperature T (logits QKᵀ/(T·√d_k), T = 1 unless
// --teacher-temperature says otherwise). The student can represent the teacher exactly in every scale mode,
// so zero loss is reachable.
class TeacherTask final : public Task {
 public:
  explicit TeacherTask(const TaskConfig& c)
      : config_(c), rng_(data_seed(c)), teacher_rng_(c.seed * 2 + 0x7eac4e50ULL), teacher_(teacher_config(c), teacher_rng_) {
    // A temperature T divides the teacher's logits: W^Q/T gives QKᵀ/(T·√d_k) with the same draws. (T = 1
    // leaves the weights untouched, so the sqrt teacher's batches stay the same bits.)
    if (c.teacher_temperature != 1.0) teacher_.parameters().front()->value /= c.teacher_temperature;
  }
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

}  // namespace

TaskEntry teacher_task() {
  TaskEntry e;
  e.name = "teacher";
  e.models = {"self_attention", "cross"};
  e.wrong_model_error = "--task teacher is for self_attention or cross, not this model";
  e.make = [](const TaskConfig& c) { return std::make_unique<TeacherTask>(c); };
  e.output_width = [](const TaskConfig& c) { return c.d_out; };  // 0: no W^O, the output is Z itself
  e.stream_identity = [](TaskConfig c) { return c; };  // a teacher of the student's exact shapes, heads and mask
  return e;
}

}  // namespace models
