#pragma once
// Optimizers update parameters from the gradients accumulated in Parameter::grad. They do not zero (or
// otherwise change) the gradients: the caller zeroes them, explicitly, which is what makes gradient
// accumulation over several backward passes possible. State (momentum, moments) is sized on the first step;
// later steps allocate nothing.
//
// The update rules follow PyTorch's torch.optim (SGD with dampening 0 and no Nesterov, Adam, AdamW), so a run
// here can be compared with a PyTorch run of the same settings:
//   - the learning rate is set before each step (set_lr, driven by scheduled_lr below) and can be scaled per
//     parameter (set_lr_multiplier; PyTorch's per-parameter-group lr, e.g. a µP-style lr for W_Q and W_K).
//     Everywhere below, lr means the parameter's effective lr = lr() · lr_multiplier(p).
//   - weight decay wd of Sgd and Adam is coupled L2: wd·p is added to the gradient before the update.
//   - weight decay of AdamW is decoupled (Loshchilov & Hutter): p ← p − lr·wd·p before the Adam update. As in
//     PyTorch's AdamW, wd is multiplied by the (scheduled, per-parameter) lr; the paper's own form multiplies
//     it by the schedule factor only.
//
// Each optimizer is a template over the scalar of its parameters (float or double, both compiled in
// optim.cpp); hyperparameters and learning rates are double and rounded to the scalar once per update. The
// plain names (Optimizer, Sgd, Adam, AdamW) are the double ones; OptimizerF, SgdF, AdamF, AdamWF the float.
#include <string_view>
#include <utility>
#include <vector>

#include "autodiff/tape.hpp"

namespace ad {

template <class Scalar>
class OptimizerOf {
 public:
  using Parameter = ParameterOf<Scalar>;
  using Matrix = MatrixOf<Scalar>;

  explicit OptimizerOf(double lr);
  virtual ~OptimizerOf() = default;

  // One update of every parameter from its grad, at the current learning rate. The list must be the same (same
  // parameters, same order) at every step: state is kept per position.
  void step(const std::vector<Parameter*>& parameters);

  // The base learning rate of the next step; a schedule sets it before every step. lr() is the value the last
  // step used (for logging) until set_lr changes it. Negative or non-finite values throw std::invalid_argument.
  void set_lr(double lr);
  double lr() const { return lr_; }

  // The effective learning rate of `parameter` is lr() · multiplier (default 1). Set before or between steps.
  void set_lr_multiplier(const Parameter& parameter, double multiplier);
  double lr_multiplier(const Parameter& parameter) const;

  long steps_taken() const { return t_; }

 protected:
  // Size per-parameter state on the first step (called with the step's parameters, before any update).
  virtual void size_state(const std::vector<Parameter*>& parameters) = 0;
  // Update parameter number i; t is the 1-based number of this step, lr the parameter's effective lr.
  virtual void update(size_t i, Parameter& p, double lr, long t) = 0;

  // Make `state` hold one zero matrix per parameter, shaped like it (only on the first step).
  static void size_like(std::vector<Matrix>& state, const std::vector<Parameter*>& parameters);

 private:
  double lr_;
  long t_ = 0;
  size_t parameter_count_ = 0;
  std::vector<std::pair<const Parameter*, double>> multipliers_;  // the few parameters whose multiplier ≠ 1
};

// g' = g + wd·p;  v ← μ·v + g';  p ← p − lr·v.   (momentum μ = 0 is plain SGD: p ← p − lr·g')
template <class Scalar>
class SgdOf final : public OptimizerOf<Scalar> {
 public:
  using Parameter = ParameterOf<Scalar>;
  using Matrix = MatrixOf<Scalar>;

  explicit SgdOf(double lr, double momentum = 0.0, double weight_decay = 0.0);

 private:
  void size_state(const std::vector<Parameter*>& parameters) override;
  void update(size_t i, Parameter& p, double lr, long t) override;

  double momentum_, weight_decay_;
  std::vector<Matrix> velocity_;
};

struct AdamConfig {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;  // coupled L2 for Adam, decoupled for AdamW
};

// Adam with bias correction, t = 1, 2, … the step number:
//   g' = g + wd·p   (coupled L2; for AdamW g' = g and first p ← p − lr·wd·p, see the top of this file)
//   m ← β1·m + (1−β1)·g';  v ← β2·v + (1−β2)·g'²;  p ← p − lr·m̂/(√v̂ + ε),  m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ)
template <class Scalar>
class AdamOf : public OptimizerOf<Scalar> {
 public:
  using Parameter = ParameterOf<Scalar>;
  using Matrix = MatrixOf<Scalar>;

  explicit AdamOf(double lr, const AdamConfig& config = {}) : AdamOf(lr, config, /*decoupled=*/false) {}

 protected:
  AdamOf(double lr, const AdamConfig& config, bool decoupled_weight_decay);

 private:
  void size_state(const std::vector<Parameter*>& parameters) override;
  void update(size_t i, Parameter& p, double lr, long t) override;

  AdamConfig config_;
  bool decoupled_;
  std::vector<Matrix> m_, v_;
};

// Adam with decoupled weight decay: p ← p − lr·wd·p, then the Adam update from the raw gradient (PyTorch's
// AdamW; its default wd there is 0.01, here it is whatever AdamConfig says, 0 unless set).
template <class Scalar>
class AdamWOf final : public AdamOf<Scalar> {
 public:
  explicit AdamWOf(double lr, const AdamConfig& config = {}) : AdamOf<Scalar>(lr, config, /*decoupled=*/true) {}
};

extern template class OptimizerOf<double>;
extern template class OptimizerOf<float>;
extern template class SgdOf<double>;
extern template class SgdOf<float>;
extern template class AdamOf<double>;
extern template class AdamOf<float>;

using Optimizer = OptimizerOf<double>;
using Sgd = SgdOf<double>;
using Adam = AdamOf<double>;
using AdamW = AdamWOf<double>;
using OptimizerF = OptimizerOf<float>;
using SgdF = SgdOf<float>;
using AdamF = AdamOf<float>;
using AdamWF = AdamWOf<float>;

// Clip gradients by their global norm, as torch.nn.utils.clip_grad_norm_: N = ‖(all grads as one vector)‖₂;
// when N > max_norm every grad is multiplied by max_norm / N, so the global norm becomes max_norm; gradients
// with N ≤ max_norm are left untouched. Returns N (before clipping). max_norm ≤ 0 means off (nothing changes,
// N is still returned). Unlike PyTorch, the factor has no +1e-6 in its denominator (the clipped norm is
// max_norm, not max_norm·N/(N+1e-6)), and a non-finite N leaves the gradients as they are (PyTorch would
// multiply them by 0 or NaN): the caller sees N and can skip the step.
template <class Scalar>
double clip_grad_norm(const std::vector<ParameterOf<Scalar>*>& parameters, double max_norm);

// The learning rate at step t = 0, 1, …, steps−1 (a pure function of its arguments).
//   warmup (t < warmup_steps):  lr_t = lr · (t+1) / warmup_steps   (linear; the last warmup step reaches lr)
//   then constant:              lr_t = lr
//   then cosine:                lr_t = min_lr + (lr − min_lr) · (1 + cos(π·s)) / 2,
//                               s = (t − warmup_steps) / (steps − 1 − warmup_steps),
//                               so lr at t = warmup_steps and min_lr at t = steps − 1. When that phase has a
//                               single step (warmup_steps = steps − 1) it uses lr; steps beyond the last use
//                               min_lr.
// Invalid settings (lr or min_lr negative or non-finite, warmup_steps < 0, steps < 1, t < 0) throw
// std::invalid_argument naming the setting.
enum class Schedule { Constant, Cosine };
struct LrSchedule {
  double lr = 1e-3;
  Schedule kind = Schedule::Constant;
  long warmup_steps = 0;
  double min_lr = 0.0;  // cosine only
  long steps = 1;       // the run's total number of steps
};
double scheduled_lr(const LrSchedule& schedule, long t);

// "constant" / "cosine"; anything else throws std::invalid_argument listing the valid names.
Schedule schedule_from_name(std::string_view name);
const char* schedule_name(Schedule schedule);

}  // namespace ad
