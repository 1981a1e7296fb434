#include "autodiff/optim.hpp"

#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

namespace ad {
namespace {

// Throws unless value ≥ 0 and finite; `what` names the setting in the message.
void require_non_negative(double value, const char* what) {
  if (!(value >= 0.0) || !std::isfinite(value))
    throw std::invalid_argument(std::string(what) + " must be a finite number >= 0, got " + std::to_string(value));
}

void require_unit_interval(double value, const char* what) {  // [0, 1), as PyTorch checks betas
  if (!(value >= 0.0 && value < 1.0))
    throw std::invalid_argument(std::string(what) + " must be in [0, 1), got " + std::to_string(value));
}

}  // namespace

// ---- Optimizer ----

template <class Scalar>
OptimizerOf<Scalar>::OptimizerOf(double lr) : lr_(0.0) {
  set_lr(lr);
}

template <class Scalar>
void OptimizerOf<Scalar>::set_lr(double lr) {
  require_non_negative(lr, "learning rate");
  lr_ = lr;
}

template <class Scalar>
void OptimizerOf<Scalar>::set_lr_multiplier(const Parameter& parameter, double multiplier) {
  require_non_negative(multiplier, "learning-rate multiplier");
  for (auto& [p, m] : multipliers_) {
    if (p == &parameter) {
      m = multiplier;
      return;
    }
  }
  multipliers_.emplace_back(&parameter, multiplier);
}

template <class Scalar>
double OptimizerOf<Scalar>::lr_multiplier(const Parameter& parameter) const {
  for (const auto& [p, m] : multipliers_)
    if (p == &parameter) return m;
  return 1.0;
}

template <class Scalar>
void OptimizerOf<Scalar>::step(const std::vector<Parameter*>& parameters) {
  if (t_ == 0) {
    size_state(parameters);
    parameter_count_ = parameters.size();
  } else if (parameters.size() != parameter_count_) {
    throw std::logic_error("ad::Optimizer: the parameter list changed between steps");
  }
  ++t_;
  for (size_t i = 0; i < parameters.size(); ++i) {
    Parameter& p = *parameters[i];
    update(i, p, lr_ * lr_multiplier(p), t_);
  }
}

template <class Scalar>
void OptimizerOf<Scalar>::size_like(std::vector<Matrix>& state, const std::vector<Parameter*>& parameters) {
  state.clear();
  for (const Parameter* p : parameters) state.push_back(Matrix::Zero(p->value.rows(), p->value.cols()));
}

// ---- SGD ----

template <class Scalar>
SgdOf<Scalar>::SgdOf(double lr, double momentum, double weight_decay)
    : OptimizerOf<Scalar>(lr), momentum_(momentum), weight_decay_(weight_decay) {
  require_non_negative(momentum, "momentum");
  require_non_negative(weight_decay, "weight decay");
}

template <class Scalar>
void SgdOf<Scalar>::size_state(const std::vector<Parameter*>& parameters) {
  this->size_like(velocity_, parameters);
}

template <class Scalar>
void SgdOf<Scalar>::update(size_t i, Parameter& p, double lr, long /*t*/) {
  Matrix& v = velocity_[i];
  const Scalar momentum = static_cast<Scalar>(momentum_), weight_decay = static_cast<Scalar>(weight_decay_);
  // Coefficient-wise expressions, evaluated in place: no temporary, p.grad is left as it was.
  if (weight_decay_ != 0.0) {
    v = momentum * v + p.grad + weight_decay * p.value;
  } else {
    v = momentum * v + p.grad;
  }
  p.value -= static_cast<Scalar>(lr) * v;
}

// ---- Adam / AdamW ----

template <class Scalar>
AdamOf<Scalar>::AdamOf(double lr, const AdamConfig& config, bool decoupled_weight_decay)
    : OptimizerOf<Scalar>(lr), config_(config), decoupled_(decoupled_weight_decay) {
  require_unit_interval(config.beta1, "beta1");
  require_unit_interval(config.beta2, "beta2");
  require_non_negative(config.eps, "eps");
  require_non_negative(config.weight_decay, "weight decay");
}

template <class Scalar>
void AdamOf<Scalar>::size_state(const std::vector<Parameter*>& parameters) {
  this->size_like(m_, parameters);
  this->size_like(v_, parameters);
}

template <class Scalar>
void AdamOf<Scalar>::update(size_t i, Parameter& p, double lr, long t) {
  using S = Scalar;
  const double b1 = config_.beta1, b2 = config_.beta2, wd = config_.weight_decay;
  // The corrections and every factor are computed in double and rounded once to the parameters' scalar.
  const S correction1 = static_cast<S>(1.0 - std::pow(b1, static_cast<double>(t)));
  const S correction2 = static_cast<S>(1.0 - std::pow(b2, static_cast<double>(t)));
  const S beta1 = static_cast<S>(b1), beta2 = static_cast<S>(b2), keep1 = static_cast<S>(1.0 - b1),
          keep2 = static_cast<S>(1.0 - b2), decay = static_cast<S>(wd);
  Matrix& m = m_[i];
  Matrix& v = v_[i];
  if (wd != 0.0 && !decoupled_) {  // coupled L2: the moments see g + wd·p
    m = beta1 * m + keep1 * (p.grad + decay * p.value);
    v = beta2 * v + keep2 * (p.grad + decay * p.value).cwiseAbs2();
  } else {
    m = beta1 * m + keep1 * p.grad;
    v = beta2 * v + keep2 * p.grad.cwiseAbs2();
  }
  if (wd != 0.0 && decoupled_) p.value *= static_cast<S>(1.0 - lr * wd);  // AdamW: decay first, from the old p (as PyTorch)
  p.value.array() -= static_cast<S>(lr) * (m.array() / correction1) /
                     ((v.array() / correction2).sqrt() + static_cast<S>(config_.eps));
}

// ---- Gradient clipping ----

template <class Scalar>
double clip_grad_norm(const std::vector<ParameterOf<Scalar>*>& parameters, double max_norm) {
  // Combine the per-parameter norms with hypot rather than summing squares, so that large gradients do not
  // overflow to infinity before they are clipped.
  double norm = 0.0;
  for (const ParameterOf<Scalar>* p : parameters) norm = std::hypot(norm, static_cast<double>(p->grad.blueNorm()));
  if (max_norm > 0.0 && std::isfinite(norm) && norm > max_norm) {
    const Scalar factor = static_cast<Scalar>(max_norm / norm);
    for (ParameterOf<Scalar>* p : parameters) p->grad *= factor;
  }
  return norm;
}

template class OptimizerOf<double>;
template class OptimizerOf<float>;
template class SgdOf<double>;
template class SgdOf<float>;
template class AdamOf<double>;
template class AdamOf<float>;
template double clip_grad_norm(const std::vector<ParameterOf<double>*>&, double);
template double clip_grad_norm(const std::vector<ParameterOf<float>*>&, double);

// ---- Learning-rate schedule ----

double scheduled_lr(const LrSchedule& s, long t) {
  require_non_negative(s.lr, "lr");
  require_non_negative(s.min_lr, "min_lr");
  if (s.warmup_steps < 0) throw std::invalid_argument("warmup_steps must be >= 0, got " + std::to_string(s.warmup_steps));
  if (s.steps < 1) throw std::invalid_argument("steps must be >= 1, got " + std::to_string(s.steps));
  if (t < 0) throw std::invalid_argument("the step of a schedule must be >= 0, got " + std::to_string(t));

  if (t < s.warmup_steps) return s.lr * static_cast<double>(t + 1) / static_cast<double>(s.warmup_steps);
  if (s.kind == Schedule::Constant) return s.lr;
  const long span = s.steps - 1 - s.warmup_steps;  // steps from the first cosine step to the last step
  if (t >= s.steps) return s.min_lr;
  if (span <= 0) return s.lr;
  const double progress = static_cast<double>(t - s.warmup_steps) / static_cast<double>(span);
  return s.min_lr + (s.lr - s.min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

Schedule schedule_from_name(std::string_view name) {
  if (name == "constant") return Schedule::Constant;
  if (name == "cosine") return Schedule::Cosine;
  throw std::invalid_argument("unknown schedule '" + std::string(name) + "' (expected constant or cosine)");
}

const char* schedule_name(Schedule schedule) { return schedule == Schedule::Cosine ? "cosine" : "constant"; }

}  // namespace ad
