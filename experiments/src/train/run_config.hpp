#pragma once
// Everything that defines one training run, as given on the command line, in an INI file or by a sweep.
#include <cstdint>
#include <string>

#include "models/attention.hpp"
#include "models/tasks.hpp"

namespace sbx {

struct RunConfig {
  std::string task = "teacher";
  std::string model = "self_attention";
  std::string scale = "sqrt";
  long d_model = 64, d_k = 16, d_v = 16, d_out = 0, seq_len = 16, batch = 32, steps = 200;
  long heads = 1;        // d_k and d_v are per head
  long context_len = 0;  // encoder length for model "cross" (required there); 0 with self_attention
  std::string optimizer = "adam";
  double lr = 1e-2;
  long seed = 0;
  bool causal = false;
  long log_every = 1;
  bool gradcheck = true;
  double init_std = 0.0;  // ≤ 0: 1/√d_model
  std::string run_name;   // empty: default_name()

  bool cross() const { return model == "cross"; }
  // <task>-dk<d_k>-<scale>-seed<seed>
  std::string default_name() const;
  std::string name() const { return run_name.empty() ? default_name() : run_name; }
  // Throws UserError naming the first bad value: unknown task/scale/optimizer, sizes ≤ 0, a learning
  // rate that is not a positive finite number, sizes whose tensors would not fit in memory.
  void validate() const;

  models::AttentionConfig attention() const;
  models::TaskConfig task_config() const;
};

}  // namespace sbx
