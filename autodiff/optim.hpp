#pragma once
// Optimizers update parameters from the gradients accumulated in Parameter::grad. They do not zero the
// gradients: the caller does, explicitly, which is what makes gradient accumulation over several
// backward passes possible. State (momentum, moments) is sized on the first step; later steps allocate
// nothing.
#include <vector>

#include "autodiff/tape.hpp"

namespace ad {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual void step(const std::vector<Parameter*>& parameters) = 0;
};

// v ← μ·v + g;  p ← p − lr·v   (momentum μ = 0 is plain SGD)
class Sgd final : public Optimizer {
 public:
  explicit Sgd(double lr, double momentum = 0.0) : lr_(lr), momentum_(momentum) {}
  void step(const std::vector<Parameter*>& parameters) override;

 private:
  double lr_, momentum_;
  std::vector<Matrix> velocity_;
};

// Adam with bias correction:
// m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  p ← p − lr·m̂/(√v̂ + ε),  m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ)
class Adam final : public Optimizer {
 public:
  explicit Adam(double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
      : lr_(lr), beta1_(beta1), beta2_(beta2), eps_(eps) {}
  void step(const std::vector<Parameter*>& parameters) override;
  long steps_taken() const { return t_; }

 private:
  double lr_, beta1_, beta2_, eps_;
  long t_ = 0;
  std::vector<Matrix> m_, v_;
};

}  // namespace ad
