#include "experiments/src/bench/reference_step.hpp"

#include <cmath>
#include <stdexcept>

namespace sbx::bench {

ReferenceStep::ReferenceStep(const BenchShape& shape, const AdamSettings& adam) : shape_(shape), adam_(adam) {
  if (shape.batch <= 0 || shape.n <= 0 || shape.d_model <= 0 || shape.d_k <= 0)
    throw std::invalid_argument("ReferenceStep: sizes must be positive");
  const Index rows = shape.batch * shape.n;
  for (int i = 0; i < 3; ++i) {
    w_[i] = Matrix::Zero(shape.d_model, shape.d_k);
    grad_[i] = Matrix::Zero(shape.d_model, shape.d_k);
    moment1_[i] = Matrix::Zero(shape.d_model, shape.d_k);
    moment2_[i] = Matrix::Zero(shape.d_model, shape.d_k);
  }
  for (Matrix* m : {&q_, &k_, &v_, &z_, &dz_, &dq_, &dk_, &dv_}) m->setZero(rows, shape.d_k);
  at_.setZero(shape.n, rows);
  dat_.setZero(shape.n, rows);
}

void ReferenceStep::set_parameters(const Matrix& w_q, const Matrix& w_k, const Matrix& w_v) {
  const Matrix* given[3] = {&w_q, &w_k, &w_v};
  for (int i = 0; i < 3; ++i) {
    if (given[i]->rows() != shape_.d_model || given[i]->cols() != shape_.d_k)
      throw std::invalid_argument("ReferenceStep::set_parameters: a weight is not d_model x d_k");
    w_[i] = *given[i];
    moment1_[i].setZero();
    moment2_[i].setZero();
  }
  t_ = 0;
}

double ReferenceStep::forward_backward(const Matrix& x, const Matrix& y) {
  const Index n = shape_.n, rows = shape_.batch * n;
  if (x.rows() != rows || x.cols() != shape_.d_model || y.rows() != rows || y.cols() != shape_.d_k)
    throw std::invalid_argument("ReferenceStep::forward_backward: the batch does not have the step's shape");
  const double scale = 1.0 / std::sqrt(static_cast<double>(shape_.d_k));

  // Forward. Projections: one product each over the whole batch.
  q_.noalias() = x * w_[0];
  k_.noalias() = x * w_[1];
  v_.noalias() = x * w_[2];
  for (Index b = 0; b < shape_.batch; ++b) {
    const auto qb = q_.middleRows(b * n, n);
    const auto kb = k_.middleRows(b * n, n);
    auto at = at_.middleCols(b * n, n);  // Aᵀ_b: column i holds query i's row of S_b, then of A_b
    at.noalias() = kb * qb.transpose();
    for (Index i = 0; i < n; ++i) {  // softmax of s·S over each (contiguous) column; s > 0, so max(sS) = s·max(S)
      auto col = at.col(i);
      const double top = col.maxCoeff();
      col = ((col.array() - top) * scale).exp().matrix();
      col /= col.sum();
    }
    z_.middleRows(b * n, n).noalias() = at.transpose() * v_.middleRows(b * n, n);
  }
  dz_ = z_ - y;
  const double size = static_cast<double>(dz_.size());
  const double loss = dz_.squaredNorm() / size;
  dz_ *= 2.0 / size;  // dL/dZ

  // Backward, sequence by sequence.
  for (Index b = 0; b < shape_.batch; ++b) {
    const auto qb = q_.middleRows(b * n, n);
    const auto kb = k_.middleRows(b * n, n);
    const auto vb = v_.middleRows(b * n, n);
    const auto dzb = dz_.middleRows(b * n, n);
    const auto at = at_.middleCols(b * n, n);
    auto dat = dat_.middleCols(b * n, n);
    dat.noalias() = vb * dzb.transpose();                   // dAᵀ_b = V_b dZ_bᵀ
    dv_.middleRows(b * n, n).noalias() = at * dzb;          // dV_b = A_bᵀ dZ_b
    for (Index i = 0; i < n; ++i) {                         // dSᵀ = s · Aᵀ ⊙ (dAᵀ − colsum(dAᵀ ⊙ Aᵀ))
      auto g = dat.col(i);
      const double rowsum = g.dot(at.col(i));
      g = (scale * at.col(i).array() * (g.array() - rowsum)).matrix();
    }
    dq_.middleRows(b * n, n).noalias() = dat.transpose() * kb;  // dQ_b = dS_b K_b (s folded into dS)
    dk_.middleRows(b * n, n).noalias() = dat * qb;              // dK_b = dS_bᵀ Q_b
  }
  grad_[0].noalias() = x.transpose() * dq_;
  grad_[1].noalias() = x.transpose() * dk_;
  grad_[2].noalias() = x.transpose() * dv_;
  return loss;
}

void ReferenceStep::update() {
  ++t_;
  const double correction1 = 1.0 - std::pow(adam_.beta1, static_cast<double>(t_));
  const double correction2 = 1.0 - std::pow(adam_.beta2, static_cast<double>(t_));
  for (int i = 0; i < 3; ++i) {
    moment1_[i] = adam_.beta1 * moment1_[i] + (1.0 - adam_.beta1) * grad_[i];
    moment2_[i] = adam_.beta2 * moment2_[i] + (1.0 - adam_.beta2) * grad_[i].cwiseAbs2();
    w_[i].array() -= adam_.lr * (moment1_[i].array() / correction1) / ((moment2_[i].array() / correction2).sqrt() + adam_.eps);
  }
}

double ReferenceStep::step(const Matrix& x, const Matrix& targets) {
  const double loss = forward_backward(x, targets);
  if (std::isfinite(loss)) update();
  return loss;
}

}  // namespace sbx::bench
