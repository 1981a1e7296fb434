#pragma once
// Everything that defines one training run, as given on the command line, in an INI file or by a sweep.
//
// Every field is listed once in the option table (option_table.hpp): its command-line/INI name, its
// HDF5 attribute, its help text. `sandbox train`, the sweep's [run] and [grid] sections, the stored
// configuration text and the run-file attributes are all generated from that table, so they cannot
// disagree about names or defaults. The defaults are the initialisers below.
#include <cstdint>
#include <string>
#include <vector>

#include "models/attention.hpp"
#include "models/lm.hpp"
#include "models/tasks.hpp"

namespace sbx {

struct RunConfig {
  // What is learned
  std::string task = "teacher";
  std::string model = "self_attention";
  long d_model = 64;
  long heads = 1;        // d_k and d_v are per head
  long d_k = 16;         // 0: auto, d_model / heads
  long d_v = 16;         // 0: auto, d_model / heads; −1: the same as d_k
  long d_out = 0;
  long seq_len = 16;
  long context_len = 0;  // encoder length for model "cross" (required there); 0 with self_attention
  std::string scale = "sqrt";
  bool causal = false;
  double init_std = 0.0;  // ≤ 0: 1/√d_model
  // How it is learned
  long batch = 32;
  long steps = 200;
  std::string optimizer = "adam";
  double lr = 1e-2;
  double momentum = 0.9;  // sgd
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam, adamw
  double weight_decay = 0.0;  // L2 for sgd and adam, decoupled for adamw
  long warmup_steps = 0;
  std::string schedule = "constant";
  double min_lr = 0.0;          // cosine: the lr reached at the last step
  double clip_grad_norm = 0.0;  // ≤ 0: no clipping
  double lr_qk_mult = 1.0;      // W^Q and W^K learn at lr·lr_qk_mult
  // A run whose training loss exceeds this many times its first (or is not finite) stops as diverged; 0:
  // only a non-finite loss or gradient stops it.
  double diverge_factor = 100.0;
  // The teacher's own logit temperature: its logits are QKᵀ/(T·√d_k), so T = 1 is a sqrt-scaled teacher and
  // T < 1 a sharper one, whose scale no student mode shares (task teacher only).
  double teacher_temperature = 1.0;
  long seed = 0;
  // What is measured
  long eval_batches = 8;
  long eval_every = 50;
  long log_every = 1;
  bool gradcheck = true;
  // How it is computed: the scalar of the model, the step and the evaluation ("float64" or "float32";
  // batches are made in float64 and rounded, the gradient check is float64 either way).
  std::string precision = "float64";
  // What the run keeps of its weights: "all" (initial and final), "final" or "none". At d_model 512 the
  // weights are most of a run's bytes (6 matrices of 512 x d_k doubles), and the study reads none of them.
  std::string save_weights = "all";
  // The language model (--model lm): its transformer blocks, and the corpus of its task text.
  long layers = 1;
  std::string text = "fortunes";

  std::string run_name;  // not part of the configuration: empty means default_name()

  // The model reads an encoder sequence (its registry entry says so); false for an unknown model.
  bool cross() const;
  // The model is the transformer of models/lm.hpp (its registry entry says so); false for an unknown model.
  bool language_model() const;
  // The task the run trains on: `task`, or the model's own (lm: text) when --task is left at its default.
  std::string effective_task() const;
  // <task>-dk<d_k>-<scale>-seed<seed>
  std::string default_name() const;
  std::string name() const { return run_name.empty() ? default_name() : run_name; }

  // The configuration with every automatic value made explicit: the task (effective_task), d_k "auto" →
  // d_model/heads, d_v "dk" → d_k, d_out → the task's output width, init_std 0 → 1/√d_model, causal for lm. Training, the stored text and
  // the attributes use the resolved form, so that the stored text reproduces the run.
  RunConfig resolved() const;

  // Throws UserError naming the first bad value: unknown task/scale/optimizer/schedule, sizes ≤ 0, a
  // learning rate that is not a positive finite number, sizes whose tensors would not fit in memory.
  void validate() const;

  bool float32() const { return precision == "float32"; }

  models::AttentionConfig attention() const;
  models::TaskConfig task_config() const;
  models::LmConfig lm() const;  // the language model's sizes (call on a resolved configuration)
};

// Checks a run name: not empty, no '/', no control characters, not "." or "..", at most 200 bytes.
// Throws UserError.
void check_run_name(const std::string& name);

}  // namespace sbx
