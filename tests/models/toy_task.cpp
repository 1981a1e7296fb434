// A task registered from the test tree alone: compiled into `sandbox_with_toy_task` (the sources of
// `sandbox` plus this file, tests/cmake/registry_tests.cmake), which must then train it and sweep over it
// like a built-in task (tests/experiments/cli/toy_task_test.sh). Nothing in models/ or experiments/ names
// it: if a layer still matched tasks by name, the toy task would fail there.
//
// toy: X ~ N(0, 1); the target of every row is its sequence's mean input row, first d_out columns (4
// by default): uniform attention with the right W^V and W^O solves it.
#ifdef SANDBOX_TOY_TASK  // only the toy executable registers it (a recursive test glob may compile this file)

#include <memory>
#include <random>
#include <string>

#include "models/task_registry.hpp"

namespace {

class ToyTask final : public models::Task {
 public:
  explicit ToyTask(const models::TaskConfig& c) : config_(c), rng_(models::data_seed(c)) {}
  std::string name() const override { return "toy"; }
  bool classifies() const override { return false; }
  Eigen::Index output_width() const override { return width(config_); }
  static Eigen::Index width(const models::TaskConfig& c) { return c.d_out > 0 ? c.d_out : 4; }
  std::vector<Attribute> attributes() const override { return {{"toy_columns", static_cast<double>(output_width())}}; }
  void next_batch(models::Batch& b) override {
    b.batch = config_.batch, b.seq_len = config_.seq_len, b.context_len = 0;
    b.x.resize(config_.batch * config_.seq_len, config_.d_model);
    b.targets.resize(b.x.rows(), output_width());
    std::normal_distribution<double> normal;
    for (Eigen::Index i = 0; i < b.x.size(); ++i) b.x(i) = normal(rng_);
    const Eigen::Index columns = std::min(output_width(), config_.d_model);
    b.targets.setZero();
    for (Eigen::Index s = 0; s < b.batch; ++s) {
      const auto rows = b.x.middleRows(s * b.seq_len, b.seq_len).leftCols(columns);
      const Eigen::RowVectorXd mean = rows.colwise().mean();
      for (Eigen::Index r = 0; r < b.seq_len; ++r) b.targets.row(s * b.seq_len + r).leftCols(columns) = mean;
    }
  }

 private:
  models::TaskConfig config_;
  ad::Rng rng_;
};

models::TaskEntry toy_task() {
  models::TaskEntry e;
  e.name = "toy";
  e.models = {"self_attention"};
  e.wrong_model_error = "--task toy is for self_attention, not --model cross";
  e.make = [](const models::TaskConfig& c) { return std::make_unique<ToyTask>(c); };
  e.output_width = ToyTask::width;
  e.stream_identity = [](models::TaskConfig c) {
    const models::TaskConfig defaults;
    c.d_k = defaults.d_k, c.d_v = defaults.d_v, c.heads = defaults.heads, c.causal = defaults.causal;
    return c;
  };
  e.check = [](const models::TaskConfig& c) {
    return c.seq_len < 3 ? std::string("--seq-len must be at least 3 for task toy") : std::string();
  };
  return e;
}

const bool registered = models::register_task(toy_task());

}  // namespace

#endif
