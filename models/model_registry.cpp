#include "models/model_registry.hpp"

#include "models/name_list.hpp"

namespace models {

const std::vector<ModelEntry>& model_entries() {
  static const std::vector<ModelEntry> entries = {
      {"self_attention", "", false, false, ""},
      {"cross", "queries from the decoder sequence, keys and values from an encoder sequence", true, false, ""},
      {"lm", "a pre-LayerNorm transformer of --layers causal blocks over the characters of --text (task text)", false,
       true, "text"},
  };
  return entries;
}

const ModelEntry* find_model(const std::string& name) {
  for (const ModelEntry& entry : model_entries())
    if (entry.name == name) return &entry;
  return nullptr;
}

std::string model_choices() {
  std::vector<std::string> names;
  for (const ModelEntry& entry : model_entries()) names.push_back(entry.name);
  return join_choices(names);
}

std::string model_choices_help() {
  std::string out;
  const std::vector<ModelEntry>& entries = model_entries();
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out += i + 1 == entries.size() ? ", or " : ", ";
    out += entries[i].name + (entries[i].help.empty() ? "" : ": " + entries[i].help);
  }
  return out;
}

}  // namespace models
