#pragma once
// The reference floor of `sandbox bench`: one training step of single-head self-attention (scale
// 1/√d_k, no W^O, d_v = d_k, mean squared error against targets, Adam), derived by hand and written
// directly in Eigen, with every buffer allocated once by the constructor and every product written with
// noalias(). It does the same math as models::Attention + ad::mean_squared_error + ad::Adam:
//
//   Q = X W_Q,  K = X W_K,  V = X W_V       one product each over the (B·n)×d_model batch
//   S_b = Q_b K_bᵀ / √d_k,  A_b = softmax_rows(S_b),  Z_b = A_b V_b      per sequence b
//   L = mean((Z − Y)²)
//   dZ = 2 (Z − Y) / size(Z)
//   dA_b = dZ_b V_bᵀ,  dV_b = A_bᵀ dZ_b
//   dS_b = A_b ⊙ (dA_b − rowsum(dA_b ⊙ A_b))          (the softmax Jacobian, row by row)
//   dQ_b = dS_b K_b / √d_k,  dK_b = dS_bᵀ Q_b / √d_k
//   dW_Q = Xᵀ dQ,  dW_K = Xᵀ dK,  dW_V = Xᵀ dV
//
// Layout: the scores of sequence b are kept transposed, Aᵀ_b (n keys × n queries) in columns b·n..b·n+n−1
// of one n × (B·n) matrix, so that the row softmax of A is a softmax over contiguous columns (Eigen is
// column-major; a row of a column-major matrix is strided and does not vectorise).
#include <Eigen/Core>

namespace sbx::bench {

using Matrix = Eigen::MatrixXd;
using Index = Eigen::Index;

// A benchmark shape: B sequences of n tokens of width d_model; d_v = d_k.
struct BenchShape {
  Index batch = 0, n = 0, d_model = 0, d_k = 0;
};

// The hyperparameters of ad::Adam that `sandbox train` uses by default (--lr 1e-2).
struct AdamSettings {
  double lr = 1e-2, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

class ReferenceStep {
 public:
  explicit ReferenceStep(const BenchShape& shape, const AdamSettings& adam = {});

  // Copies the parameters in (shapes d_model×d_k) and resets Adam's state and step count.
  void set_parameters(const Matrix& w_q, const Matrix& w_k, const Matrix& w_v);

  // Forward and backward on a batch (x: (B·n)×d_model, targets: (B·n)×d_k). Returns the loss and leaves
  // the gradients in grad_w_q() etc. (overwritten, not accumulated). No allocation.
  double forward_backward(const Matrix& x, const Matrix& targets);
  // One Adam update from the current gradients. No allocation.
  void update();
  // forward_backward, then update() when the loss is finite (as sbx::TrainingStep does).
  double step(const Matrix& x, const Matrix& targets);

  const BenchShape& shape() const { return shape_; }
  const Matrix& w_q() const { return w_[0]; }
  const Matrix& w_k() const { return w_[1]; }
  const Matrix& w_v() const { return w_[2]; }
  const Matrix& grad_w_q() const { return grad_[0]; }
  const Matrix& grad_w_k() const { return grad_[1]; }
  const Matrix& grad_w_v() const { return grad_[2]; }
  const Matrix& output() const { return z_; }  // Z of the last forward pass

 private:
  BenchShape shape_;
  AdamSettings adam_;
  long t_ = 0;
  Matrix w_[3], grad_[3], moment1_[3], moment2_[3];  // parameters, gradients, Adam moments
  Matrix q_, k_, v_, z_, dz_, dq_, dk_, dv_;  // (B·n) × d_k
  Matrix at_, dat_;                           // n × (B·n): Aᵀ_b and dAᵀ_b (then dSᵀ_b) side by side
};

}  // namespace sbx::bench
