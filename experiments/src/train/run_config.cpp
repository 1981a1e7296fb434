#include "experiments/src/train/run_config.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "experiments/src/user_error.hpp"

namespace sbx {
namespace {

// The largest amount of memory a run may ask for: the tape keeps a value, an adjoint and saved
// intermediates for every node, so this is a rough upper bound, not an exact count.
constexpr double kMaxBytes = 8.0 * (1ull << 30);

void require_positive(const char* name, long value) {
  if (value <= 0) throw UserError(std::string("--") + name + " must be a positive whole number, got " + std::to_string(value));
}

}  // namespace

std::string RunConfig::default_name() const {
  return task + "-dk" + std::to_string(d_k) + "-" + scale + "-seed" + std::to_string(seed);
}

void RunConfig::validate() const {
  bool known_task = false;
  for (const auto& t : models::task_names()) known_task = known_task || t == task;
  if (!known_task) throw UserError("--task: unknown task '" + task + "' (choose teacher, recall, sense or lookup)");
  try {
    models::parse_scale(scale);
  } catch (const std::invalid_argument& e) {
    throw UserError(std::string("--scale: ") + e.what());
  }
  if (model != "self_attention" && model != "cross")
    throw UserError("--model: unknown model '" + model + "' (choose self_attention or cross)");
  // Multi-head and encoder–decoder settings.
  require_positive("heads", heads);
  if (context_len != 0 && !cross()) throw UserError("--context-len is only for --model cross (the encoder's length)");
  if (cross()) require_positive("context-len", context_len);
  if (task == "lookup" && !cross()) throw UserError("--task lookup needs --model cross (and --context-len)");
  if ((task == "recall" || task == "sense") && cross()) throw UserError("--task " + task + " is for self_attention, not --model cross");
  if (heads > 4096) throw UserError("--heads is absurdly large (" + std::to_string(heads) + ")");
  if (optimizer != "adam" && optimizer != "sgd") throw UserError("--optimizer: unknown optimizer '" + optimizer + "' (choose adam or sgd)");
  require_positive("d-model", d_model);
  require_positive("dk", d_k);
  require_positive("dv", d_v);
  require_positive("seq-len", seq_len);
  require_positive("batch", batch);
  require_positive("steps", steps);
  require_positive("log-every", log_every);
  if (d_out < 0) throw UserError("--d-out must be 0 (no W^O) or positive, got " + std::to_string(d_out));
  if (!std::isfinite(lr) || lr <= 0) {
    std::ostringstream value;
    value << lr;  // 1e-09 rather than std::to_string's 0.000000
    throw UserError("--lr must be a positive finite number, got " + value.str());
  }
  if (!run_name.empty() && (run_name.find('/') != std::string::npos || run_name == "." || run_name == ".."))
    throw UserError("--run: '" + run_name + "' is not a usable run name (it may not contain '/' or be '.' or '..')");
  if (!std::isfinite(init_std) || init_std < 0) throw UserError("--init-std must be 0 (default 1/sqrt(d_model)) or positive");
  if (seed < 0) throw UserError("--seed must be 0 or positive");
  if ((task == "recall" || task == "sense") && seq_len < 2) throw UserError("--seq-len must be at least 2 for task " + task);
  if (task == "sense" && d_out != 0 && d_out != 2) throw UserError("--d-out: task sense has 2 classes (leave it unset or 2)");
  if (steps > 100'000'000) throw UserError("--steps is absurdly large (" + std::to_string(steps) + ")");
  const double rows = static_cast<double>(batch) * static_cast<double>(seq_len);
  const double h = static_cast<double>(heads), keys = static_cast<double>(cross() ? context_len : seq_len);
  const double width = static_cast<double>(d_model) + 3.0 * h * static_cast<double>(d_k) + 3.0 * h * static_cast<double>(d_v) +
                       static_cast<double>(d_out);
  const double bytes = 8.0 * 4.0 * (rows * width + 4.0 * h * rows * keys) +
                       8.0 * 8.0 * static_cast<double>(d_model) * h * (2.0 * static_cast<double>(d_k) + static_cast<double>(d_v));
  if (bytes > kMaxBytes)
    throw UserError("these sizes would need about " + std::to_string(static_cast<long long>(bytes / (1 << 30))) +
                    " GiB (batch " + std::to_string(batch) + ", seq-len " + std::to_string(seq_len) +
                    ", d-model " + std::to_string(d_model) + ", dk " + std::to_string(d_k) + "): more than the 8 GiB a run may use");
}

models::AttentionConfig RunConfig::attention() const {
  models::AttentionConfig a;
  a.d_model = d_model;
  a.d_k = d_k;
  a.d_v = d_v;
  a.heads = heads;
  a.d_out = models::task_output_width(task, task_config());
  a.scale = models::parse_scale(scale);
  a.causal = causal;
  a.init_std = init_std;
  return a;
}

models::TaskConfig RunConfig::task_config() const {
  models::TaskConfig t;
  t.d_model = d_model;
  t.d_k = d_k;
  t.d_v = d_v;
  t.d_out = d_out;
  t.seq_len = seq_len;
  t.heads = heads;
  t.context_len = cross() ? context_len : 0;
  t.batch = batch;
  t.causal = causal;
  t.seed = static_cast<uint64_t>(seed);
  return t;
}

}  // namespace sbx
