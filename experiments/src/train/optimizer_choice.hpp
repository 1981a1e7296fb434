#pragma once
// The optimizer a configuration names (sgd, adam or adamw with its settings), with the query and key weights
// at lr·lr_qk_mult: one place for the attention trainer and the language model's loop.
#include <memory>
#include <vector>

#include "autodiff/optim.hpp"
#include "experiments/src/train/run_config.hpp"

namespace sbx {

template <class S>
std::unique_ptr<ad::OptimizerOf<S>> make_optimizer(const RunConfig& c, const std::vector<const ad::ParameterOf<S>*>& query_key) {
  std::unique_ptr<ad::OptimizerOf<S>> optimizer;
  const ad::AdamConfig adam{c.beta1, c.beta2, c.eps, c.weight_decay};
  if (c.optimizer == "sgd") optimizer = std::make_unique<ad::SgdOf<S>>(c.lr, c.momentum, c.weight_decay);
  else if (c.optimizer == "adamw") optimizer = std::make_unique<ad::AdamWOf<S>>(c.lr, adam);
  else optimizer = std::make_unique<ad::AdamOf<S>>(c.lr, adam);
  for (const ad::ParameterOf<S>* p : query_key) optimizer->set_lr_multiplier(*p, c.lr_qk_mult);
  return optimizer;
}

}  // namespace sbx
