#include "experiments/src/train/run_config.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "experiments/src/text.hpp"
#include "experiments/src/user_error.hpp"
#include "models/model_registry.hpp"
#include "models/name_list.hpp"
#include "models/task_registry.hpp"

namespace sbx {
namespace {

// task_config() uses the fields as they are: call it on a resolved() configuration.

// The largest amount of memory a run may ask for: the tape keeps a value, an adjoint and saved
// intermediates for every node, so this is a rough upper bound, not an exact count.
constexpr double kMaxBytes = 8.0 * (1ull << 30);

void require_positive(const char* name, long value) {
  if (value <= 0) throw UserError(std::string("--") + name + " must be a positive whole number, got " + std::to_string(value));
}

std::string format_number(double value) {
  std::ostringstream text;
  text << value;  // 1e-09 rather than std::to_string's 0.000000
  return text.str();
}

void require_positive_real(const char* name, double value) {
  if (!std::isfinite(value) || value <= 0)
    throw UserError(std::string("--") + name + " must be a positive finite number, got " + format_number(value));
}

void require_non_negative_real(const char* name, double value) {
  if (!std::isfinite(value) || value < 0)
    throw UserError(std::string("--") + name + " must be 0 or a positive finite number, got " + format_number(value));
}

void require_unit_interval(const char* name, double value) {
  if (!(value >= 0 && value < 1)) throw UserError(std::string("--") + name + " must be in [0, 1), got " + format_number(value));
}

}  // namespace

bool RunConfig::cross() const {
  const models::ModelEntry* entry = models::find_model(model);
  return entry != nullptr && entry->cross;
}

bool RunConfig::language_model() const {
  const models::ModelEntry* entry = models::find_model(model);
  return entry != nullptr && entry->language_model;
}

std::string RunConfig::effective_task() const {
  const models::ModelEntry* entry = models::find_model(model);
  if (entry != nullptr && !entry->default_task.empty() && task == RunConfig().task) return entry->default_task;
  return task;
}

std::string RunConfig::default_name() const {
  const RunConfig r = resolved();
  return r.task + "-dk" + std::to_string(r.d_k) + "-" + r.scale + "-seed" + std::to_string(r.seed);
}

RunConfig RunConfig::resolved() const {
  RunConfig r = *this;
  r.task = effective_task();
  if (r.language_model()) r.causal = true;
  // "auto" is d_model / heads (validate() refuses a d_model that does not divide); dv "dk" follows d_k.
  if (r.heads > 0) {
    if (r.d_k == 0) r.d_k = r.d_model / r.heads;
    if (r.d_v == 0) r.d_v = r.d_model / r.heads;
  }
  if (r.d_v == -1) r.d_v = r.d_k;
  if (r.d_k > 0 && r.d_v > 0 && r.d_model > 0 && r.seq_len > 0 && r.batch > 0) {
    try {
      r.d_out = models::task_output_width(r.task, r.task_config());
    } catch (const std::invalid_argument&) {
      // an unknown task: validate() names it
    }
  }
  if (r.init_std <= 0 && r.d_model > 0) r.init_std = 1.0 / std::sqrt(static_cast<double>(r.d_model));
  return r;
}

void check_run_name(const std::string& name) {
  if (name.empty()) throw UserError("--name: the run name is empty");
  if (name.size() > 200) throw UserError("--name: the run name is " + std::to_string(name.size()) + " bytes long (at most 200)");
  if (name == "." || name == "..") throw UserError("--name: '" + name + "' is not a usable run name");
  // HDF5 stores the name as UTF-8 and h5py decodes it so: a name that is not would make the file unreadable
  // to the Python reader.
  if (!is_valid_utf8(name)) throw UserError("--name: the run name is not valid UTF-8: '" + printable(name) + "'");
  for (const char c : name) {
    if (c == '/') throw UserError("--name: '" + name + "' contains '/' (run names may not)");
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) throw UserError("--name: the run name contains a control character");
    if (c == '{' || c == '}') throw UserError("--name: '" + name + "' has an unexpanded brace");
  }
}

void RunConfig::validate() const {
  if (effective_task() != task) {  // the model's own task: check the configuration that will run
    RunConfig own = *this;
    own.task = effective_task();
    own.validate();
    return;
  }
  const models::TaskEntry* task_entry = models::find_task(task);
  if (task_entry == nullptr)
    throw UserError("--task: unknown task '" + task + "' (choose " + models::join_choices(models::task_names()) + ")");
  try {
    models::parse_scale(scale);
  } catch (const std::invalid_argument& e) {
    throw UserError(std::string("--scale: ") + e.what());
  }
  if (models::find_model(model) == nullptr)
    throw UserError("--model: unknown model '" + model + "' (choose " + models::model_choices() + ")");
  // Multi-head and encoder–decoder settings.
  require_positive("heads", heads);
  if (context_len != 0 && !cross()) throw UserError("--context-len is only for --model cross (the encoder's length)");
  if (cross()) require_positive("context-len", context_len);
  if (!task_entry->works_with(model)) {
    const models::ModelEntry* model_entry = models::find_model(model);
    if (!model_entry->default_task.empty())  // the task's message names the models it knows of, not this one
      throw UserError("--model " + model + " trains on --task " + model_entry->default_task + ", not --task " + task);
    throw UserError(task_entry->wrong_model_error);
  }
  require_positive("layers", layers);
  if (layers != 1 && !language_model()) throw UserError("--layers is for --model lm (the other models are one attention layer)");
  if (layers > 1000) throw UserError("--layers is absurdly large (" + std::to_string(layers) + ")");
  if (text != RunConfig().text && task != "text") throw UserError("--text is for --task text (--model lm)");
  if (heads > 4096) throw UserError("--heads is absurdly large (" + std::to_string(heads) + ")");
  if ((d_k == 0 || d_v == 0) && d_model % heads != 0)
    throw UserError(std::string(d_k == 0 ? "--dk" : "--dv") + " auto: --d-model " + std::to_string(d_model) +
                    " does not divide into " + std::to_string(heads) + " heads");
  if (optimizer != "adam" && optimizer != "adamw" && optimizer != "sgd")
    throw UserError("--optimizer: unknown optimizer '" + optimizer + "' (choose sgd, adam or adamw)");
  if (precision != "float64" && precision != "float32")
    throw UserError("--precision: unknown precision '" + precision + "' (choose float32 or float64)");
  if (save_weights != "all" && save_weights != "final" && save_weights != "none")
    throw UserError("--save-weights: unknown choice '" + save_weights + "' (choose all, final or none)");
  if (schedule != "constant" && schedule != "cosine")
    throw UserError("--schedule: unknown schedule '" + schedule + "' (choose constant or cosine)");
  require_positive("d-model", d_model);
  if (d_k < 0) throw UserError("--dk must be a positive whole number or auto, got " + std::to_string(d_k));
  if (d_v < -1) throw UserError("--dv must be a positive whole number, auto or dk, got " + std::to_string(d_v));
  require_positive("seq-len", seq_len);
  require_positive("batch", batch);
  require_positive("steps", steps);
  require_positive("log-every", log_every);
  if (d_out < 0) throw UserError("--d-out must be 0 (no W^O) or positive, got " + std::to_string(d_out));
  require_positive_real("lr", lr);
  require_positive_real("eps", eps);
  require_positive_real("lr-qk-mult", lr_qk_mult);
  require_unit_interval("beta1", beta1);
  require_unit_interval("beta2", beta2);
  require_unit_interval("momentum", momentum);
  require_non_negative_real("weight-decay", weight_decay);
  require_non_negative_real("min-lr", min_lr);
  require_non_negative_real("clip-grad-norm", clip_grad_norm);
  require_non_negative_real("diverge-factor", diverge_factor);
  if (diverge_factor > 0 && diverge_factor <= 1)
    throw UserError("--diverge-factor must be 0 (off) or above 1 (a loss that many times its first), got " + format_number(diverge_factor));
  require_non_negative_real("init-std", init_std);
  require_positive_real("teacher-temperature", teacher_temperature);
  if (teacher_temperature != 1.0 && task != "teacher") throw UserError("--teacher-temperature is for --task teacher");
  if (min_lr > lr) throw UserError("--min-lr (" + format_number(min_lr) + ") is larger than --lr (" + format_number(lr) + ")");
  if (warmup_steps < 0) throw UserError("--warmup-steps must be 0 or positive, got " + std::to_string(warmup_steps));
  if (warmup_steps > steps) throw UserError("--warmup-steps (" + std::to_string(warmup_steps) + ") is larger than --steps (" + std::to_string(steps) + ")");
  require_positive("eval-batches", eval_batches);
  if (eval_every < 0) throw UserError("--eval-every must be 0 (only at the start and the end) or positive, got " + std::to_string(eval_every));
  if (!run_name.empty()) check_run_name(run_name);
  if (seed < 0) throw UserError("--seed must be 0 or positive");
  if (const std::string error = task_entry->check(task_config()); !error.empty()) throw UserError(error);
  if (steps > 100'000'000) throw UserError("--steps is absurdly large (" + std::to_string(steps) + ")");
  const RunConfig r = resolved();
  const long d_k = r.d_k, d_v = r.d_v, d_out = r.d_out;
  const double rows = static_cast<double>(batch) * static_cast<double>(seq_len);
  const double h = static_cast<double>(heads), keys = static_cast<double>(cross() ? context_len : seq_len);
  const double width = static_cast<double>(d_model) + 3.0 * h * static_cast<double>(d_k) + 3.0 * h * static_cast<double>(d_v) +
                       static_cast<double>(d_out);
  // The evaluation batches are drawn once and kept for the whole run: inputs, targets and labels of each.
  const double context_rows = cross() ? static_cast<double>(batch) * static_cast<double>(context_len) : 0.0;
  const double eval_bytes = static_cast<double>(eval_batches) *
                            (8.0 * (rows * static_cast<double>(d_model + d_out) + context_rows * static_cast<double>(d_model)) + 4.0 * rows);
  // A language model keeps every block's nodes (and its MLP, 4·d_model wide) on the tape.
  const double blocks = language_model() ? static_cast<double>(layers) * 2.0 : 1.0;
  const double bytes = blocks * 8.0 * 4.0 * (rows * width + 4.0 * h * rows * keys) +
                       8.0 * 8.0 * static_cast<double>(d_model) * h * (2.0 * static_cast<double>(d_k) + static_cast<double>(d_v)) +
                       eval_bytes;
  if (bytes > kMaxBytes)
    throw UserError("these sizes would need about " + std::to_string(static_cast<long long>(bytes / (1 << 30))) +
                    " GiB (batch " + std::to_string(batch) + ", seq-len " + std::to_string(seq_len) +
                    ", d-model " + std::to_string(d_model) + ", dk " + std::to_string(d_k) + ", eval-batches " +
                    std::to_string(eval_batches) + "): more than the 8 GiB a run may use");
}

models::AttentionConfig RunConfig::attention() const {
  const RunConfig r = resolved();
  const long d_k = r.d_k, d_v = r.d_v;
  const double init_std = r.init_std;
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

models::LmConfig RunConfig::lm() const {
  models::LmConfig c;
  c.vocab = d_out;
  c.context = seq_len;
  c.d_model = d_model;
  c.heads = heads;
  c.d_k = d_k;
  c.d_v = d_v;
  c.layers = layers;
  c.scale = models::parse_scale(scale);
  c.init_std = init_std;
  return c;
}

models::TaskConfig RunConfig::task_config() const {
  models::TaskConfig t;
  t.text = text;
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
  t.teacher_temperature = teacher_temperature;
  return t;
}

}  // namespace sbx
