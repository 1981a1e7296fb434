#pragma once
// How attention scales its logits S = s·Q Kᵀ. Each scale mode is one entry (a ScaleRule): its name, the
// fixed factor s(d_k) it folds into the score product, or else the learned s = exp θ and θ's initial value,
// whether Q and K are L2-normalised first, and how the study labels it. The model, the CLI, the gradient
// checks and the study read the entry; none of them switches on the mode. Adding a mode: a rule in
// scale_modes.cpp and its line in scale_modes().
#include <string>
#include <vector>

namespace models {

struct ScaleRule {
  const char* name;
  const char* help;  // in --scale's help after the name, e.g. "1/sqrt d_k"; "" for none
  // s as a function of d_k, folded into the score product; nullptr: s = exp θ is learned.
  double (*fixed_factor)(double d_k);
  double (*initial_log_scale)(double d_k);  // θ at initialisation, for a learned s
  bool normalise_qk;                        // rows of Q and K L2-normalised before the scores
  const char* study_label;                  // the study's column heading (fixed factors only)
};

namespace scale_rules {
extern const ScaleRule none, sqrt, linear, learned, qknorm;
}

// A scale mode: a handle on its rule, compared by identity.
class ScaleMode {
 public:
  constexpr explicit ScaleMode(const ScaleRule* rule) : rule_(rule) {}
  const ScaleRule& rule() const { return *rule_; }
  bool operator==(const ScaleMode& other) const { return rule_ == other.rule_; }
  // The built-in modes by name, for code that picks one (a new mode does not need a constant here).
  static const ScaleMode None, Sqrt, Linear, Learned, QkNorm;

 private:
  const ScaleRule* rule_;
};

inline constexpr ScaleMode ScaleMode::None{&scale_rules::none};
inline constexpr ScaleMode ScaleMode::Sqrt{&scale_rules::sqrt};
inline constexpr ScaleMode ScaleMode::Linear{&scale_rules::linear};
inline constexpr ScaleMode ScaleMode::Learned{&scale_rules::learned};
inline constexpr ScaleMode ScaleMode::QkNorm{&scale_rules::qknorm};

// Every mode, in the order of --scale's help and the gradient checks.
const std::vector<ScaleMode>& scale_modes();
ScaleMode parse_scale(const std::string& name);  // throws std::invalid_argument naming the choices
std::string scale_name(ScaleMode mode);
const std::vector<std::string>& scale_names();
bool has_learned_scale(ScaleMode mode);
// "none, sqrt (1/sqrt d_k), linear (1/d_k), learned or qknorm": the choices with their help, for --scale.
std::string scale_choices_help();

}  // namespace models
