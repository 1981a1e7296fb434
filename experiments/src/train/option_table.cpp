#include "experiments/src/train/option_table.hpp"

#include <charconv>
#include <cmath>
#include <map>
#include <sstream>

#include "experiments/src/io/layout.hpp"
#include "experiments/src/train/did_you_mean.hpp"
#include "experiments/src/io/run_checksum.hpp"
#include "experiments/src/user_error.hpp"
#include "models/model_registry.hpp"
#include "models/task_registry.hpp"
#include "models/text_corpus.hpp"

namespace sbx {
namespace {

using R = RunConfig;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

}  // namespace

const std::vector<RunOption>& run_options() {
  static const std::vector<RunOption> table = {
      {"task", "task", models::task_choices_help(), &R::task},
      {"model", "model", models::model_choices_help(), &R::model},
      {"d-model", "d_model", "model width d_model", &R::d_model},
      {"heads", "heads", "attention heads h (W^Q, W^K: d_model x h*d_k)", &R::heads},
      {"dk", "d_k", "query/key width d_k per head, or auto: d_model/heads", &R::d_k, {{"auto", 0}}},
      {"dv", "d_v", "value width d_v per head, auto (d_model/heads) or dk (the same as d_k)", &R::d_v, {{"auto", 0}, {"dk", -1}}},
      {"d-out", "d_out", "output width: W^O is h*d_v x d_out (0: no W^O for teacher; classes for recall, sense, lookup)", &R::d_out},
      {"seq-len", "seq_len", "sequence length n (the decoder's, for cross)", &R::seq_len},
      {"context-len", "context_len", "encoder sequence length (--model cross only)", &R::context_len},
      {"scale", "scale", "logit scale: " + models::scale_choices_help(), &R::scale},
      {"causal", "causal", "causal mask: query i sees keys j <= i", &R::causal},
      {"init-std", "init_std", "std of the initial weights (0: 1/sqrt(d_model))", &R::init_std},
      {"batch", "batch", "sequences per batch", &R::batch},
      {"steps", "steps", "optimizer steps", &R::steps},
      {"optimizer", "optimizer", "sgd, adam or adamw", &R::optimizer},
      {"lr", "lr", "peak learning rate", &R::lr},
      {"momentum", "momentum", "sgd momentum (0: plain sgd)", &R::momentum},
      {"beta1", "beta1", "adam/adamw first-moment decay", &R::beta1},
      {"beta2", "beta2", "adam/adamw second-moment decay", &R::beta2},
      {"eps", "eps", "adam/adamw epsilon", &R::eps},
      {"weight-decay", "weight_decay", "weight decay: L2 in the gradient for sgd and adam, decoupled for adamw", &R::weight_decay},
      {"warmup-steps", "warmup_steps", "linear warm-up steps", &R::warmup_steps},
      {"schedule", "schedule", "learning-rate schedule after warm-up: constant or cosine", &R::schedule},
      {"min-lr", "min_lr", "cosine: the learning rate at the last step", &R::min_lr},
      {"clip-grad-norm", "clip_grad_norm", "clip the global gradient norm to this (0: off)", &R::clip_grad_norm},
      {"lr-qk-mult", "lr_qk_mult", "learning-rate multiplier of W^Q and W^K (a per-parameter lr, as in muP)", &R::lr_qk_mult},
      // Added after runs were stored: at its default the configuration text (and so every run's identity)
      // is what it was.
      {"diverge-factor", "diverge_factor",
       "stop the run as diverged when its training loss exceeds this many times its first (0: only when not finite)",
       &R::diverge_factor, {}, "100"},
      {"teacher-temperature", "teacher_temperature",
       "task teacher: the teacher's logits are QK^T/(T sqrt d_k) (1: a sqrt-scaled teacher; below 1 sharper)",
       &R::teacher_temperature, {}, "1"},
      {"seed", "seed", "seed of the initialisation and the training data", &R::seed},
      {"eval-batches", "eval_batches", "batches in the held-out evaluation set", &R::eval_batches},
      {"eval-every", "eval_every", "evaluate every N steps (and at the start and the end)", &R::eval_every},
      {"log-every", "log_every", "log the training metrics every N steps", &R::log_every},
      {"gradcheck", "gradcheck", "gradient-check the model on small shapes before training", &R::gradcheck},
      {"precision", "precision", "float64 or float32: the scalar the model trains and evaluates in (gradient checks stay float64)",
       &R::precision, {}, "float64"},
      {"save-weights", "save_weights", "the weights stored with the run: all (initial and final), final or none",
       &R::save_weights, {}, "all"},
      {"layers", "layers", "transformer blocks of --model lm", &R::layers, {}, "1"},
      {"text", "text", std::string("corpus of --task text: a plain-text file, or ") + models::kFortunesCorpus +
           " (every text file of the Debian package fortunes, " + models::kFortunesDir + ")",
       &R::text, {}, models::kFortunesCorpus},
  };
  return table;
}

namespace {
// A key without its separators: d-model, d_model and dmodel are one option (no two options differ only
// in them).
std::string bare(const std::string& key) {
  std::string out;
  for (char c : key)
    if (c != '-' && c != '_') out += c;
  return out;
}
}  // namespace

const RunOption* find_run_option(const std::string& key) {
  for (const RunOption& o : run_options())
    if (key == o.key || key == o.attr) return &o;
  const std::string wanted = bare(key);
  if (wanted.empty()) return nullptr;
  for (const RunOption& o : run_options())
    if (wanted == bare(o.key) || wanted == bare(o.attr)) return &o;
  return nullptr;
}

std::string unknown_option_hint(const std::string& key) {
  if (const std::string hint = not_a_run_option_hint(key); !hint.empty()) return hint;
  std::vector<std::string> known;
  for (const RunOption& o : run_options()) known.emplace_back(o.key);
  return did_you_mean(key, known);
}

std::string not_a_run_option_hint(const std::string& key) {
  if (key == "threads")
    return " (threads is not a run option, as it changes no logged number: give `sandbox train --threads N` on the "
           "command line; a sweep runs each run on one thread and --jobs runs side by side)";
  return "";
}

std::string option_text(const RunConfig& c, const RunOption& option) {
  return std::visit(
      [&](auto member) -> std::string {
        const auto& value = c.*member;
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, long>) {
          for (const auto& [word, stands_for] : option.words)
            if (value == stands_for) return word;
          return std::to_string(value);
        } else if constexpr (std::is_same_v<T, double>) {
          char text[64];
          const auto [end, ec] = std::to_chars(text, text + sizeof text, value);  // shortest exact form
          return ec == std::errc() ? std::string(text, end) : "nan";
        } else if constexpr (std::is_same_v<T, bool>) {
          return value ? "true" : "false";
        } else {
          return value;
        }
      },
      option.field);
}

void set_option(RunConfig& c, const RunOption& option, const std::string& raw) {
  const std::string text = trim(raw);
  const std::string name = std::string("--") + option.key;
  std::visit(
      [&](auto member) {
        auto& value = c.*member;
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, long>) {
          std::string alternatives;
          for (const auto& [word, stands_for] : option.words) {
            if (text == word) {
              value = stands_for;
              return;
            }
            alternatives += std::string(" or ") + word;
          }
          long parsed = 0;
          const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
          if (text.empty() || ec != std::errc() || end != text.data() + text.size())
            throw UserError(name + ": '" + text + "' is not a whole number" + alternatives);
          // The numbers that stand for words inside RunConfig are, as text, sizes of zero or less.
          if (!option.words.empty() && parsed <= 0)
            throw UserError(name + " must be a positive whole number" + alternatives + ", got " + text);
          value = parsed;
        } else if constexpr (std::is_same_v<T, double>) {
          double parsed = 0;
          const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
          if (text.empty() || ec != std::errc() || end != text.data() + text.size())
            throw UserError(name + ": '" + text + "' is not a number");
          value = parsed;
        } else if constexpr (std::is_same_v<T, bool>) {
          const std::string t = lower(text);
          if (t == "true" || t == "1" || t == "yes" || t == "on") value = true;
          else if (t == "false" || t == "0" || t == "no" || t == "off") value = false;
          else throw UserError(name + ": '" + text + "' is not true or false");
        } else {
          if (text.empty()) throw UserError(name + ": empty value");
          value = text;
        }
      },
      option.field);
}

std::string config_text(const RunConfig& config) {
  const RunConfig resolved = config.resolved();
  std::string text;
  for (const RunOption& o : run_options()) {
    const std::string value = option_text(resolved, o);
    if (o.text_omits == nullptr || value != o.text_omits) text += std::string(o.key) + " = " + value + "\n";
  }
  return text;
}

std::string config_hash(const std::string& text) { return io::config_hash(text); }  // the validator checks it too

namespace {

std::vector<std::pair<std::string, std::string>> parse_lines(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> entries;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    entries.emplace_back(trim(line.substr(0, eq)), trim(line.substr(eq + 1)));
  }
  return entries;
}

}  // namespace

std::optional<OptionDifference> first_difference(const std::string& ours, const std::string& theirs) {
  const auto a = parse_lines(ours);
  std::map<std::string, std::string> b;
  for (auto& [k, v] : parse_lines(theirs)) b[k] = v;
  for (const auto& [key, value] : a) {
    const auto found = b.find(key);
    const std::string other = found == b.end() ? "<missing>" : found->second;
    if (other != value) return OptionDifference{key, value, other};
    if (found != b.end()) b.erase(found);
  }
  if (!b.empty()) return OptionDifference{b.begin()->first, "<missing>", b.begin()->second};
  return std::nullopt;
}

std::string expand_name_template(const std::string& name_template, const RunConfig& config) {
  const RunConfig resolved = config.resolved();
  std::string name;
  for (size_t i = 0; i < name_template.size(); ++i) {
    if (name_template[i] == '}') throw UserError("--name: '}' without '{' in '" + name_template + "'");
    if (name_template[i] != '{') {
      name += name_template[i];
      continue;
    }
    const auto close = name_template.find('}', i);
    if (close == std::string::npos) throw UserError("--name: unclosed '{' in '" + name_template + "'");
    const std::string key = name_template.substr(i + 1, close - i - 1);
    const RunOption* option = find_run_option(key);
    if (!option) {
      const std::string hint = unknown_option_hint(key);
      throw UserError("--name: unknown placeholder {" + key + "}" + (hint.empty() ? " (placeholders are option names, e.g. {lr})" : hint));
    }
    name += option_text(resolved, *option);
    i = close;
  }
  return name;
}

std::string default_sweep_name(const RunConfig& config, const std::vector<std::string>& varying_keys) {
  const RunConfig resolved = config.resolved();
  // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on one long concatenation here.
  std::string name = resolved.task;
  name += "-dk";
  name += std::to_string(resolved.d_k);
  name += "-";
  name += resolved.scale;
  for (const RunOption& o : run_options()) {
    const std::string key = o.key;
    if (key == "task" || key == "dk" || key == "scale" || key == "seed") continue;
    bool varies = false;
    for (const auto& k : varying_keys) varies = varies || k == key;
    if (!varies) continue;
    std::string compact;
    for (char ch : key)
      if (ch != '-') compact += ch;
    std::string value = option_text(resolved, o);
    if (value == "true" || value == "false") value = value == "true" ? "1" : "0";
    name += "-";
    name += compact;
    name += value;
  }
  name += "-seed";
  name += std::to_string(resolved.seed);
  return name;
}

// The options' attributes join the file layout (io/layout.hpp), which lives a layer below this table and
// so is told them here, once, when the program starts: `sandbox layout` lists them and the run validator
// requires them. Any program that uses the option table links this file, and with it this registration.
namespace {
[[maybe_unused]] const bool registered_with_layout = [] {
  std::vector<io::layout::OptionAttribute> attributes;
  for (const RunOption& o : run_options()) {
    const io::layout::Type type = std::visit(
        [](auto member) {
          using Field = std::decay_t<decltype(RunConfig{}.*member)>;
          if constexpr (std::is_same_v<Field, double>) return io::layout::Type::Float64;
          else if constexpr (std::is_same_v<Field, std::string>) return io::layout::Type::Str;
          else return io::layout::Type::Int64;  // integers, and flags as 0/1
        },
        o.field);
    attributes.push_back({o.attr, type});
  }
  io::layout::register_run_options(std::move(attributes));
  return true;
}();
}  // namespace

}  // namespace sbx
