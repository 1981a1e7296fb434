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

Optimizer::Optimizer(double lr) : lr_(0.0) { set_lr(lr); }

void Optimizer::set_lr(double lr) {
  require_non_negative(lr, "learning rate");
  lr_ = lr;
}

void Optimizer::set_lr_multiplier(const Parameter& parameter, double multiplier) {
  require_non_negative(multiplier, "learning-rate multiplier");
  for (auto& [p, m] : multipliers_) {
    if (p == &parameter) {
      m = multiplier;
      return;
    }
  }
  multipliers_.emplace_back(&parameter, multiplier);
}

double Optimizer::lr_multiplier(const Parameter& parameter) const {
  for (const auto& [p, m] : multipliers_)
    if (p == &parameter) return m;
  return 1.0;
}

void Optimizer::step(const std::vector<Parameter*>& parameters) {
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

void Optimizer::size_like(std::vector<Matrix>& state, const std::vector<Parameter*>& parameters) {
  state.clear();
  for (const Parameter* p : parameters) state.push_back(Matrix::Zero(p->value.rows(), p->value.cols()));
}

// ---- SGD ----

Sgd::Sgd(double lr, double momentum, double weight_decay)
    : Optimizer(lr), momentum_(momentum), weight_decay_(weight_decay) {
  require_non_negative(momentum, "momentum");
  require_non_negative(weight_decay, "weight decay");
}

void Sgd::size_state(const std::vector<Parameter*>& parameters) { size_like(velocity_, parameters); }

void Sgd::update(size_t i, Parameter& p, double lr, long /*t*/) {
  Matrix& v = velocity_[i];
  // Coefficient-wise expressions, evaluated in place: no temporary, p.grad is left as it was.
  if (weight_decay_ != 0.0) {
    v = momentum_ * v + p.grad + weight_decay_ * p.value;
  } else {
    v = momentum_ * v + p.grad;
  }
  p.value -= lr * v;
}

// ---- Adam / AdamW ----

Adam::Adam(double lr, const AdamConfig& config, bool decoupled_weight_decay)
    : Optimizer(lr), config_(config), decoupled_(decoupled_weight_decay) {
  require_unit_interval(config.beta1, "beta1");
  require_unit_interval(config.beta2, "beta2");
  require_non_negative(config.eps, "eps");
  require_non_negative(config.weight_decay, "weight decay");
}

void Adam::size_state(const std::vector<Parameter*>& parameters) {
  size_like(m_, parameters);
  size_like(v_, parameters);
}

void Adam::update(size_t i, Parameter& p, double lr, long t) {
  const double b1 = config_.beta1, b2 = config_.beta2, wd = config_.weight_decay;
  const double correction1 = 1.0 - std::pow(b1, static_cast<double>(t));
  const double correction2 = 1.0 - std::pow(b2, static_cast<double>(t));
  Matrix& m = m_[i];
  Matrix& v = v_[i];
  if (wd != 0.0 && !decoupled_) {  // coupled L2: the moments see g + wd·p
    m = b1 * m + (1.0 - b1) * (p.grad + wd * p.value);
    v = b2 * v + (1.0 - b2) * (p.grad + wd * p.value).cwiseAbs2();
  } else {
    m = b1 * m + (1.0 - b1) * p.grad;
    v = b2 * v + (1.0 - b2) * p.grad.cwiseAbs2();
  }
  if (wd != 0.0 && decoupled_) p.value *= 1.0 - lr * wd;  // AdamW: decay first, from the old p (as PyTorch)
  p.value.array() -= lr * (m.array() / correction1) / ((v.array() / correction2).sqrt() + config_.eps);
}

// ---- Gradient clipping ----

double clip_grad_norm(const std::vector<Parameter*>& parameters, double max_norm) {
  // Combine the per-parameter norms with hypot rather than summing squares, so that large gradients do not
  // overflow to infinity before they are clipped.
  double norm = 0.0;
  for (const Parameter* p : parameters) norm = std::hypot(norm, p->grad.blueNorm());
  if (max_norm > 0.0 && std::isfinite(norm) && norm > max_norm) {
    const double factor = max_norm / norm;
    for (Parameter* p : parameters) p->grad *= factor;
  }
  return norm;
}

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
