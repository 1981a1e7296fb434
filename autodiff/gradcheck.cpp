#include "autodiff/gradcheck.hpp"

#include "autodiff/ops.hpp"

#include <cmath>
#include <cstdio>
#include <random>

namespace ad {
namespace {

// Run the function on `inputs` and return L = Σ R⊙Y over the entries where Y is finite (masked softmax
// rows are zero, so every entry is finite; the check is defensive).
double probe(Tape& tape, const BuildFn& build, const std::vector<Matrix>& inputs, const Matrix& r) {
  tape.reset();
  std::vector<Var> vars;
  for (const Matrix& m : inputs) vars.push_back(tape.constant(m, true));
  const Matrix& y = build(tape, vars).value();
  return (y.array().isFinite()).select(r.array() * y.array(), 0.0).sum();
}

struct Analytic {
  std::vector<Matrix> grads;
  Matrix output;
};

// Gradients of Σ seed⊙Y by one backward pass (zero seed when null). With `twice`, the function is built
// twice on the same inputs and Y is the sum of both, so every input is a node used twice: its gradient
// must be exactly double, which catches a backward that assigns instead of accumulating.
Analytic analytic(Tape& tape, const BuildFn& build, const std::vector<Matrix>& inputs, const Matrix* seed,
                  bool twice = false) {
  tape.reset();
  std::vector<Var> vars;
  for (const Matrix& m : inputs) vars.push_back(tape.constant(m, true));
  Var y = build(tape, vars);
  if (twice) y = add(y, build(tape, vars));
  Analytic result;
  result.output = y.value();
  tape.backward(y, seed ? *seed : Matrix::Zero(y.rows(), y.cols()).eval());
  for (const Var& v : vars) result.grads.push_back(v.grad());
  return result;
}

}  // namespace

std::string GradcheckReport::describe() const {
  char line[320];
  std::snprintf(line, sizeof line,
                "%s: max |error| %.3e; worst input %d entry (%ld, %ld): analytic %.10e numeric %.10e "
                "(%.2f of tolerance)%s%s%s%s",
                passed ? "pass" : "FAIL", max_abs_error, worst_input, static_cast<long>(worst_row),
                static_cast<long>(worst_col), worst_analytic, worst_numeric, worst_ratio,
                repeatable ? "" : "; backward twice differs", zero_seed_gives_zero ? "" : "; zero seed gives non-zero",
                accumulates ? "" : "; a node used twice does not get the sum",
                finite ? "" : "; non-finite values");
  return line;
}

GradcheckReport gradcheck(const BuildFn& build, const std::vector<Matrix>& inputs, const GradcheckOptions& options) {
  Tape tape;
  GradcheckReport report;

  // The probe weights R: fixed, random, of the output's shape.
  tape.reset();
  std::vector<Var> shape_vars;
  for (const Matrix& m : inputs) shape_vars.push_back(tape.constant(m, true));
  const Matrix output_shape = build(tape, shape_vars).value();
  std::mt19937_64 rng(options.probe_seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  Matrix r(output_shape.rows(), output_shape.cols());
  for (Eigen::Index i = 0; i < r.size(); ++i) r(i) = normal(rng);

  const Analytic first = analytic(tape, build, inputs, &r);
  const Analytic second = analytic(tape, build, inputs, &r);
  const Analytic zero = analytic(tape, build, inputs, nullptr);
  const Analytic doubled = analytic(tape, build, inputs, &r, /*twice=*/true);
  for (size_t k = 0; k < inputs.size(); ++k) {
    report.repeatable = report.repeatable && (first.grads[k].array() == second.grads[k].array()).all();
    report.zero_seed_gives_zero = report.zero_seed_gives_zero && (zero.grads[k].array() == 0.0).all();
    report.accumulates = report.accumulates && doubled.grads[k].isApprox(2.0 * first.grads[k], 1e-12);
    report.finite = report.finite && first.grads[k].allFinite();
  }
  report.finite = report.finite && first.output.allFinite();

  std::vector<Matrix> moved = inputs;
  for (size_t k = 0; k < inputs.size(); ++k) {
    for (Eigen::Index j = 0; j < inputs[k].cols(); ++j) {
      for (Eigen::Index i = 0; i < inputs[k].rows(); ++i) {
        const double x = inputs[k](i, j);
        const double h = 1e-6 * std::max(1.0, std::abs(x));
        moved[k](i, j) = x + h;
        const double step = moved[k](i, j);
        const double up = probe(tape, build, moved, r);
        moved[k](i, j) = x - h;
        const double width = step - moved[k](i, j);  // the step actually taken, after rounding
        const double down = probe(tape, build, moved, r);
        moved[k](i, j) = x;
        const double numeric = (up - down) / width;
        const double analytic_value = first.grads[k](i, j);
        const double error = std::abs(analytic_value - numeric);
        const double ratio = error / (options.abs_tolerance + options.rel_tolerance * std::abs(numeric));
        if (!std::isfinite(ratio)) report.finite = false;
        report.max_abs_error = std::max(report.max_abs_error, error);
        if (report.worst_input < 0 || ratio > report.worst_ratio) {
          report.worst_ratio = ratio;
          report.worst_input = static_cast<int>(k);
          report.worst_row = i;
          report.worst_col = j;
          report.worst_analytic = analytic_value;
          report.worst_numeric = numeric;
        }
      }
    }
  }
  report.passed = report.worst_ratio <= 1.0 && report.repeatable && report.zero_seed_gives_zero && report.accumulates &&
                  report.finite;
  return report;
}

}  // namespace ad
