#include "experiments/src/cli/run_options.hpp"

#include "experiments/src/user_error.hpp"

namespace sbx::cli {
namespace {

// --dk and --dv take a whole number or "auto" (d_model/heads, resolved by finish_run_options; -1 until
// then). Parsed by Boost's validator hook, so that a bad value is reported like any other (naming the INI
// file when it comes from one).
constexpr long kAutoSize = -1;
struct SizeOrAuto {
  long value = 0;
};
void validate(boost::any& v, const std::vector<std::string>& values, SizeOrAuto*, int) {
  po::validators::check_first_occurrence(v);
  const std::string& text = po::validators::get_single_string(values);
  if (text == "auto") {
    v = SizeOrAuto{kAutoSize};
    return;
  }
  size_t used = 0;
  long value = 0;
  try {
    value = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size()) throw po::invalid_option_value(text);
  v = SizeOrAuto{value};
}

void resolve_auto(const char* option, long& size, const RunConfig& c) {
  if (size != kAutoSize) return;
  if (c.heads <= 0 || c.d_model <= 0 || c.d_model % c.heads != 0)
    throw UserError(std::string("--") + option + " auto: --d-model " + std::to_string(c.d_model) + " does not divide into " +
                    std::to_string(c.heads) + " heads");
  size = c.d_model / c.heads;
}

}  // namespace

void add_run_options(po::options_description& options, RunConfig& c, const std::string& prefix) {
  auto name = [&prefix](const char* option) { return (prefix + option); };
  options.add_options()
      (name("task").c_str(), po::value(&c.task)->default_value(c.task), "teacher, recall or sense; lookup with --model cross")
      (name("d-model").c_str(), po::value(&c.d_model)->default_value(c.d_model), "model width d_model")
      (name("dk").c_str(), po::value<SizeOrAuto>()->default_value(SizeOrAuto{c.d_k}, std::to_string(c.d_k))->notifier([&c](const SizeOrAuto& v) { c.d_k = v.value; }),
       "query/key width d_k per head, or auto: d_model/heads")
      (name("dv").c_str(), po::value<SizeOrAuto>()->default_value(SizeOrAuto{c.d_v}, std::to_string(c.d_v))->notifier([&c](const SizeOrAuto& v) { c.d_v = v.value; }),
       "value width d_v per head, or auto: d_model/heads")
      (name("heads").c_str(), po::value(&c.heads)->default_value(c.heads), "attention heads h (W^Q, W^K: d_model x h*d_k)")
      (name("model").c_str(), po::value(&c.model)->default_value(c.model),
       "self_attention, or cross: queries from the decoder sequence, keys and values from an encoder sequence")
      (name("context-len").c_str(), po::value(&c.context_len)->default_value(c.context_len), "encoder sequence length (--model cross only)")
      (name("d-out").c_str(), po::value(&c.d_out)->default_value(c.d_out),
       "output width (W^O is d_v x d_out; 0: no W^O for teacher; classes for recall; sense has 2)")
      (name("seq-len").c_str(), po::value(&c.seq_len)->default_value(c.seq_len), "sequence length n")
      (name("batch").c_str(), po::value(&c.batch)->default_value(c.batch), "sequences per batch")
      (name("steps").c_str(), po::value(&c.steps)->default_value(c.steps), "optimizer steps")
      (name("scale").c_str(), po::value(&c.scale)->default_value(c.scale), "none, sqrt, linear, learned or qknorm")
      (name("optimizer").c_str(), po::value(&c.optimizer)->default_value(c.optimizer), "adam or sgd (momentum 0.9)")
      (name("lr").c_str(), po::value(&c.lr)->default_value(c.lr), "learning rate")
      (name("seed").c_str(), po::value(&c.seed)->default_value(c.seed), "seed of the initialisation and the data")
      (name("causal").c_str(), po::bool_switch(&c.causal), "causal mask: query i sees keys j <= i")
      (name("log-every").c_str(), po::value(&c.log_every)->default_value(c.log_every), "log the metrics every N steps")
      (name("no-gradcheck").c_str(), po::bool_switch(), "skip the gradient check of the model before training")
      (name("init-std").c_str(), po::value(&c.init_std)->default_value(c.init_std), "std of the initial weights (0: 1/sqrt(d_model))");
}

void finish_run_options(const po::variables_map& vm, RunConfig& c, const std::string& prefix) {
  const std::string key = prefix + "no-gradcheck";
  if (vm.count(key) && vm[key].as<bool>()) c.gradcheck = false;
  resolve_auto("dk", c.d_k, c);
  resolve_auto("dv", c.d_v, c);
}

}  // namespace sbx::cli
