// A model of your own, logged like the sandbox's runs: the 2-layer MLP of mlp.cpp trained with Adam and with
// SGD at three learning rates each, every run written with sandbox::io's writer into one file that the
// Python reader (`from sqrtdk import load`), merge and the plot command read like any sandbox run file.
//
// Usage: own_model_runs OUT.h5
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "autodiff/ops.hpp"
#include "autodiff/optim.hpp"
#include "experiments/src/io/layout.hpp"
#include "experiments/src/io/run_file.hpp"

namespace lo = sbx::io::layout::run;

ad::Var mlp(ad::Var x, ad::Var w1, ad::Var b1, ad::Var w2) {
  return ad::matmul(ad::tanh(ad::add(ad::matmul(x, w1), b1)), w2);
}

// One run: its settings as attributes (the whole configuration also as `config`, which identifies the run),
// the loss and the step it was logged at as series, its weights before and after.
sbx::io::RunRecord train(const std::string& optimizer, double lr) {
  std::srand(7);  // the same data and initial weights for every run
  const ad::Matrix x = ad::Matrix::Random(32, 3), y = ad::Matrix::Random(32, 2);
  ad::Parameter w1("W1", ad::Matrix::Random(3, 5)), b1("b1", ad::Matrix::Zero(1, 5)), w2("W2", ad::Matrix::Random(5, 2));
  sbx::io::RunRecord run;
  run.name = optimizer + "-lr" + std::to_string(lr).substr(0, 5);
  run.set(lo::config, "model = mlp\noptimizer = " + optimizer + "\nlr = " + std::to_string(lr) + "\nsteps = 30\n");
  run.set("model", std::string("mlp"));
  run.set("optimizer", optimizer);
  run.set("lr", lr);
  run.set("seed", std::int64_t{7});
  run.set(lo::steps_option, std::int64_t{30});
  for (ad::Parameter* p : {&w1, &b1, &w2}) run.params_init.emplace_back(p->name, p->value);
  std::unique_ptr<ad::Optimizer> opt;
  if (optimizer == "adam") opt = std::make_unique<ad::Adam>(lr);
  else opt = std::make_unique<ad::Sgd>(lr, 0.0);
  ad::Tape tape;
  std::string status = lo::complete;
  for (int step = 0; step < 30; ++step) {
    tape.reset();
    ad::Var l = ad::mean_squared_error(
        mlp(tape.constant(x), tape.parameter(w1), tape.parameter(b1), tape.parameter(w2)), tape.constant(y));
    tape.backward(l);
    opt->step({&w1, &b1, &w2});
    for (ad::Parameter* p : {&w1, &b1, &w2}) p->zero_grad();
    run.steps.push_back(step);  // the `step` series
    run.series_named(lo::loss).push_back(l.value()(0, 0));
    if (!std::isfinite(l.value()(0, 0))) {
      status = lo::diverged;
      break;
    }
  }
  run.set(lo::status, status);
  for (ad::Parameter* p : {&w1, &b1, &w2}) run.params_final.emplace_back(p->name, p->value);
  return run;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: own_model_runs OUT.h5\n");
    return 2;
  }
  std::vector<sbx::io::RunRecord> runs;
  for (const std::string optimizer : {"adam", "sgd"})
    for (double lr : {0.003, 0.03, 0.3}) runs.push_back(train(optimizer, lr));
  sbx::io::save_runs(argv[1], runs, /*overwrite=*/false);
  std::printf("%zu runs saved to %s\n", runs.size(), argv[1]);
  return 0;
}
