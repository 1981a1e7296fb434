#include "models/scale_modes.hpp"

#include <cmath>
#include <stdexcept>

#include "models/name_list.hpp"

namespace models {
namespace scale_rules {

// none: s = 1.
const ScaleRule none{"none", "", [](double) { return 1.0; }, nullptr, false, "s = 1 (none)"};
// sqrt: s = 1/√d_k (Vaswani et al.), unit-variance logits for unit-variance q and k.
const ScaleRule sqrt{"sqrt", "1/sqrt d_k", [](double d_k) { return 1.0 / std::sqrt(d_k); }, nullptr, false,
                     "s = 1/√d_k (sqrt)"};
// linear: s = 1/d_k (µP).
const ScaleRule linear{"linear", "1/d_k", [](double d_k) { return 1.0 / d_k; }, nullptr, false, "s = 1/d_k (linear)"};
// learned: s = exp θ, θ learned from −½·ln d_k (sqrt's value).
const ScaleRule learned{"learned", "", nullptr, [](double d_k) { return -0.5 * std::log(d_k); }, false, ""};
// qknorm: rows of Q and K L2-normalised, s = exp θ learned from ½·ln d_k, so that the logits start with
// unit variance as with sqrt (unit vectors have q̂·k̂ of variance ≈ 1/d_k).
const ScaleRule qknorm{"qknorm", "", nullptr, [](double d_k) { return 0.5 * std::log(d_k); }, true, ""};

}  // namespace scale_rules

const std::vector<ScaleMode>& scale_modes() {
  static const std::vector<ScaleMode> modes = {ScaleMode::None, ScaleMode::Sqrt, ScaleMode::Linear, ScaleMode::Learned,
                                               ScaleMode::QkNorm};
  return modes;
}

const std::vector<std::string>& scale_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all;
    for (const ScaleMode mode : scale_modes()) all.emplace_back(mode.rule().name);
    return all;
  }();
  return names;
}

ScaleMode parse_scale(const std::string& name) {
  for (const ScaleMode mode : scale_modes())
    if (name == mode.rule().name) return mode;
  throw std::invalid_argument("unknown scale '" + name + "' (choose " + join_choices(scale_names()) + ")");
}

std::string scale_name(ScaleMode mode) { return mode.rule().name; }

bool has_learned_scale(ScaleMode mode) { return mode.rule().fixed_factor == nullptr; }

std::string scale_choices_help() {
  std::vector<std::string> shown;
  for (const ScaleMode mode : scale_modes()) {
    const ScaleRule& rule = mode.rule();
    shown.push_back(std::string(rule.name) + (*rule.help ? std::string(" (") + rule.help + ")" : ""));
  }
  return join_choices(shown);
}

}  // namespace models
