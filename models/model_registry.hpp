#pragma once
// The models a run can train, one entry each: the name --model takes, what it is, and whether it reads an
// encoder sequence (keys and values from X_c, which makes --context-len required). self_attention and cross
// are the Attention layer of attention.hpp, lm the transformer of lm.hpp; the entry is what the CLI, the tasks'
// model lists and the trainer ask, so that none of them compares a model's name. Adding one: its entry in model_registry.cpp.
#include <string>
#include <vector>

namespace models {

struct ModelEntry {
  std::string name;
  std::string help;  // after the name in --model's help; "" for none
  bool cross = false;  // keys and values from an encoder sequence of --context-len positions
  // The transformer of models/lm.hpp (--layers blocks, always causal, tokens in, next-token loss), trained by
  // its own loop (experiments/src/train/lm_trainer.hpp) rather than as one Attention layer.
  bool language_model = false;
  // The task a run of this model trains on when --task is left at its default (teacher, which it cannot
  // learn); "" for none.
  std::string default_task;
};

const std::vector<ModelEntry>& model_entries();
const ModelEntry* find_model(const std::string& name);  // nullptr for an unknown name
// "self_attention or cross" and "self_attention, or cross: queries from ...", for the CLI.
std::string model_choices();
std::string model_choices_help();

}  // namespace models
