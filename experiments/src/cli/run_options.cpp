#include "experiments/src/cli/run_options.hpp"

namespace sbx::cli {

void add_run_options(po::options_description& options, RunConfig& c, const std::string& prefix) {
  auto name = [&prefix](const char* option) { return (prefix + option); };
  options.add_options()
      (name("task").c_str(), po::value(&c.task)->default_value(c.task), "teacher, recall or sense")
      (name("d-model").c_str(), po::value(&c.d_model)->default_value(c.d_model), "model width d_model")
      (name("dk").c_str(), po::value(&c.d_k)->default_value(c.d_k), "query/key width d_k")
      (name("dv").c_str(), po::value(&c.d_v)->default_value(c.d_v), "value width d_v")
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
}

}  // namespace sbx::cli
