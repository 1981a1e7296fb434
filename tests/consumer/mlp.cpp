#include <cstdio>
#include "autodiff/gradcheck.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/optim.hpp"
// ŷ = tanh(x·W1 + b1)·W2, a function of matrices built from the engine's ops (b1 is a broadcast row).
ad::Var mlp(ad::Var x, ad::Var w1, ad::Var b1, ad::Var w2) {
  return ad::matmul(ad::tanh(ad::add(ad::matmul(x, w1), b1)), w2);
}
int main() {
  const ad::Matrix x = ad::Matrix::Random(8, 3), y = ad::Matrix::Random(8, 2);
  // Backward against central differences, on distinct non-square shapes 8×3, 3×5, 1×5, 5×2.
  ad::GradcheckReport check = ad::gradcheck(
      [](ad::Tape&, const std::vector<ad::Var>& in) { return mlp(in[0], in[1], in[2], in[3]); },
      {x, ad::Matrix::Random(3, 5), ad::Matrix::Random(1, 5), ad::Matrix::Random(5, 2)});
  std::printf("gradcheck %s: %s\n", check.passed ? "passed" : "FAILED", check.describe().c_str());
  // Training: parameters outlive the tape; backward() adds into their grad, which the caller zeroes.
  ad::Parameter w1("w1", ad::Matrix::Random(3, 5)), b1("b1", ad::Matrix::Zero(1, 5)), w2("w2", ad::Matrix::Random(5, 2));
  ad::Adam adam(0.05);  // or ad::Sgd(lr, momentum)
  ad::Tape tape;
  double loss[2] = {0, 0};  // the first and the last step's
  for (int step = 0; step < 40; ++step) {
    tape.reset();  // forgets the nodes, keeps their storage: later steps allocate nothing
    ad::Var l = ad::mean_squared_error(
        mlp(tape.constant(x), tape.parameter(w1), tape.parameter(b1), tape.parameter(w2)), tape.constant(y));
    tape.backward(l);
    adam.step({&w1, &b1, &w2});
    for (ad::Parameter* p : {&w1, &b1, &w2}) p->zero_grad();
    loss[step > 0] = l.value()(0, 0);
  }
  std::printf("training loss %.6f -> %.6f\n", loss[0], loss[1]);
  return check.passed && loss[1] < 0.5 * loss[0] ? 0 : 1;
}
