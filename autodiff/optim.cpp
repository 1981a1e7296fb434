#include "autodiff/optim.hpp"

#include <cmath>
#include <stdexcept>

namespace ad {
namespace {

// Make `state` hold one zero matrix per parameter, shaped like it (only on the first step).
void size_state(std::vector<Matrix>& state, const std::vector<Parameter*>& parameters) {
  if (state.size() == parameters.size()) return;
  if (!state.empty()) throw std::logic_error("ad::Optimizer: the parameter list changed between steps");
  for (const Parameter* p : parameters) state.push_back(Matrix::Zero(p->value.rows(), p->value.cols()));
}

}  // namespace

void Sgd::step(const std::vector<Parameter*>& parameters) {
  size_state(velocity_, parameters);
  for (size_t i = 0; i < parameters.size(); ++i) {
    Parameter& p = *parameters[i];
    velocity_[i] = momentum_ * velocity_[i] + p.grad;
    p.value -= lr_ * velocity_[i];
  }
}

void Adam::step(const std::vector<Parameter*>& parameters) {
  size_state(m_, parameters);
  size_state(v_, parameters);
  ++t_;
  const double correction1 = 1.0 - std::pow(beta1_, static_cast<double>(t_));
  const double correction2 = 1.0 - std::pow(beta2_, static_cast<double>(t_));
  for (size_t i = 0; i < parameters.size(); ++i) {
    Parameter& p = *parameters[i];
    m_[i] = beta1_ * m_[i] + (1.0 - beta1_) * p.grad;
    v_[i] = beta2_ * v_[i] + (1.0 - beta2_) * p.grad.cwiseAbs2();
    p.value.array() -= lr_ * (m_[i].array() / correction1) / ((v_[i].array() / correction2).sqrt() + eps_);
  }
}

}  // namespace ad
