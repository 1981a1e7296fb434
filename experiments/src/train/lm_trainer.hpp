#pragma once
// The training loop of the language model (--model lm, models/lm.hpp): its own small loop, since the generic
// one (trainer.cpp) steps one Attention layer. It takes the same configuration and optimizer settings, logs into
// the same RunRecord layout (io/layout.hpp) and is called by train_run, so `sandbox train` and `sandbox sweep`
// run it unchanged. It never writes files.
#include "experiments/src/train/trainer.hpp"

namespace sbx {

// `config` is resolved and validated, and names a language model.
RunOutcome train_lm_run(const RunConfig& config, const std::function<bool()>& should_stop, const StepCallback& on_step,
                        const RunHooks& hooks);

}  // namespace sbx
