#pragma once
// The models a run can train, one entry each: the name --model takes, what it is, and whether it reads an
// encoder sequence (keys and values from X_c, which makes --context-len required). Both are the Attention
// layer of attention.hpp today; the entry is what the CLI, the tasks' model lists and the trainer ask,
// so that none of them compares a model's name. Adding one: its entry in model_registry.cpp.
#include <string>
#include <vector>

namespace models {

struct ModelEntry {
  std::string name;
  std::string help;  // after the name in --model's help; "" for none
  bool cross = false;  // keys and values from an encoder sequence of --context-len positions
};

const std::vector<ModelEntry>& model_entries();
const ModelEntry* find_model(const std::string& name);  // nullptr for an unknown name
// "self_attention or cross" and "self_attention, or cross: queries from ...", for the CLI.
std::string model_choices();
std::string model_choices_help();

}  // namespace models
