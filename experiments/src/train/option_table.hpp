#pragma once
// The one table of run options. Each row names a RunConfig field three ways: the command-line and INI
// key (`d-model`), the HDF5 attribute (`d_model`) and a help line. Everything that handles options
// iterates over this table: `sandbox train`'s options, a sweep's [run] and [grid] sections, the
// canonical configuration text stored with every run (and its hash), the run's attributes, default run
// names and the "same name, different configuration" check.
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "experiments/src/train/run_config.hpp"

namespace sbx {

struct RunOption {
  const char* key;   // command line (--key) and INI
  const char* attr;  // HDF5 attribute of the run
  std::string help;  // the registered tasks, models and scale modes are listed from their registries
  std::variant<long RunConfig::*, double RunConfig::*, std::string RunConfig::*, bool RunConfig::*> field;
  // Integer options with values that stand for a rule are written as words: dk "auto" (0, d_model/heads),
  // dv "auto" (0) and "dk" (−1, the same as d_k).
  std::vector<std::pair<const char*, long>> words = {};
  // An option added after runs were stored leaves its default out of the configuration text, so that the
  // text, its hash and so the identity of every run that does not set it stay what they were (nullptr:
  // always written).
  const char* text_omits = nullptr;
};

// In the order the configuration text lists them and a sweep nests its axes (the first outermost).
const std::vector<RunOption>& run_options();
// The row for a key in any spelling: the command line's (d-model, dk), the attribute's (d_model, d_k) or
// either without its separators (dmodel, as in default run names); nullptr if there is none. The key
// (`option->key`) is the canonical spelling, written back in configuration texts and messages.
const RunOption* find_run_option(const std::string& key);

// For a key that is not a run option: words to add to "unknown option" that say what to do instead
// (threads: a command-line option of train, not part of a run's configuration); "" for other keys.
std::string not_a_run_option_hint(const std::string& key);
// The same, or else " (did you mean 'optimizer'?)" naming the closest options; "" when none is close.
std::string unknown_option_hint(const std::string& key);

// The value of an option as text: integers in decimal, reals in the shortest form that reads back
// exactly, flags as true/false, the zero word where one applies.
std::string option_text(const RunConfig& config, const RunOption& option);
// Sets an option from text. Throws UserError "--key: ..." for a value of the wrong kind.
void set_option(RunConfig& config, const RunOption& option, const std::string& text);

// The canonical configuration: one "key = value" line per option, in table order, of the resolved
// configuration (an option at its text_omits value has no line). `sandbox train --config` reads it back into the same run.
std::string config_text(const RunConfig& config);
// A stable 64-bit FNV-1a hash of that text, as 16 hex digits.
std::string config_hash(const std::string& text);

struct OptionDifference {
  std::string key, ours, theirs;
};
// The first option (in the order of `ours`) whose value differs between two configuration texts; an
// option missing from one side counts as differing ("<missing>").
std::optional<OptionDifference> first_difference(const std::string& ours, const std::string& theirs);

// A run name from a template whose {key} placeholders are option keys (or attribute names), e.g.
// "{task}-dk{dk}-{scale}-lr{lr}-s{seed}". Throws UserError for an unknown placeholder or an unclosed brace.
std::string expand_name_template(const std::string& name_template, const RunConfig& config);

// The default name of a run in a sweep: <task>-dk<d_k>-<scale>, then -<key><value> for every other grid
// axis that varies (in table order, dashes dropped from the key: -dmodel64, -lr0.003), then -seed<seed>.
std::string default_sweep_name(const RunConfig& config, const std::vector<std::string>& varying_keys);

}  // namespace sbx
