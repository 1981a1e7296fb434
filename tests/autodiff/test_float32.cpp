// The engine in float32 (TapeF, VarF, ParameterF, ...): every op of the op table gives, in float, its float64
// result within a tolerance derived from float's rounding; splitting work over a team of threads changes no
// bit in float either; and the float table is the double table (the same ops, in the same order), so the
// gradient checks, which stay in float64, cover every op the float engine runs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "autodiff/op_table.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/optim.hpp"
#include "autodiff/random.hpp"
#include "autodiff/workers.hpp"

namespace {

using ad::Matrix;
using ad::MatrixF;

// ---- float against double, op by op ------------------------------------------------------------------
//
// Tolerance. float's unit roundoff is u = 2⁻²⁴ ≈ 6.0e-8 (FLT_EPSILON = 2u). Every op here is backward stable:
// its float result is the exact result of inputs perturbed by a few u each, plus u per term of each sum.
// Rounding the inputs to float moves them by u relative; the op's condition number κ turns that into κ·u of
// output. At the table's shapes a sum has at most 3·7 = 21 terms (batched products over 3 blocks of ≤ 7) and
// the logits have standard deviation 2, so exp and softmax see |x| up to about 10 (κ ≈ |x| for exp); a
// gradient chains two such ops. With κ·u + terms·u ≤ (10 + 21)·u ≈ 16·FLT_EPSILON per op and up to a factor
// 2 for a gradient, 64·FLT_EPSILON (7.6e-6), relative to the matrix's largest entry (an entry near 0 after
// cancellation is only accurate relative to the terms that cancelled), bounds every op with margin 2. A
// float op that lost precision in earnest (a sum in the wrong order would not; a constant rounded to the
// wrong value, a float exp floor that zeroes live entries, a value computed in half the bits would) is off
// by far more.
// One op is not well conditioned at every input of the table: layer norm divides by each row's σ, so rounding
// x to float moves x̂ = (x − μ)/σ by about u·max|x|/σ (large for a short row of close entries); its κ is that
// factor, computed from the inputs. Measured over 50 seeds: at most 7·FLT_EPSILON for every other op, and
// 12·FLT_EPSILON·κ for layer norm.
constexpr double kFloatTolerance = 64.0 * std::numeric_limits<float>::epsilon();

double condition(const std::string& op, const std::vector<Matrix>& inputs) {
  if (op.rfind("layer_norm_rows", 0) != 0) return 1.0;
  const Matrix& x = inputs[0];
  double kappa = 1.0;
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const double mu = x.row(r).mean();
    const double sigma = std::sqrt((x.row(r).array() - mu).square().mean() + 1e-5);
    kappa = std::max(kappa, x.row(r).cwiseAbs().maxCoeff() / sigma);
  }
  return kappa;
}

// The op's value and every input's gradient for one backward pass seeded with `seed` (double, rounded to the
// tape's scalar), computed on a tape of scalar S from the double inputs rounded to S.
template <class S>
std::vector<Matrix> value_and_gradients(const ad::OpEntryOf<S>& entry, const std::vector<Matrix>& inputs,
                                        const ad::Shape& shape, uint64_t seed) {
  ad::TapeOf<S> tape;
  std::vector<ad::VarOf<S>> vars;
  for (const Matrix& m : inputs) vars.push_back(tape.constant(m.template cast<S>(), true));
  const ad::VarOf<S> y = entry.build(tape, vars, shape);
  ad::Rng rng(seed);
  tape.backward(y, ad::random_normal(rng, y.rows(), y.cols()).template cast<S>());
  std::vector<Matrix> results = {y.value().template cast<double>()};
  for (const ad::VarOf<S>& v : vars) results.push_back(v.grad().template cast<double>());
  return results;
}

class Float32Op : public ::testing::TestWithParam<std::tuple<size_t, int>> {};

TEST_P(Float32Op, ValueAndGradientsMatchFloat64WithinFloatRounding) {
  const size_t index = std::get<0>(GetParam());
  const int seed = std::get<1>(GetParam());
  const ad::OpEntry& in_double = ad::op_table<double>()[index];
  const ad::OpEntryOf<float>& in_float = ad::op_table<float>()[index];
  ASSERT_EQ(in_float.name, in_double.name);
  // Seed 0 at the default shape, seeds 1 and 2 at random non-square shapes.
  ad::Rng rng(3000 + static_cast<uint64_t>(seed));
  const ad::Shape shape = seed == 0 ? ad::default_shape() : ad::random_shape(rng);
  const std::vector<Matrix> inputs = in_double.inputs(rng, shape);
  const std::vector<Matrix> expected = value_and_gradients(in_double, inputs, shape, 77);
  const std::vector<Matrix> actual = value_and_gradients(in_float, inputs, shape, 77);
  ASSERT_EQ(actual.size(), expected.size());
  const double tolerance = kFloatTolerance * condition(in_double.name, inputs);
  for (size_t i = 0; i < expected.size(); ++i) {
    const std::string what = in_double.name + (i == 0 ? " value" : " gradient of input " + std::to_string(i - 1));
    ASSERT_EQ(actual[i].rows(), expected[i].rows()) << what;
    ASSERT_EQ(actual[i].cols(), expected[i].cols()) << what;
    const double scale = std::max(1.0, expected[i].array().isFinite().select(expected[i].array().abs(), 0.0).maxCoeff());
    for (Eigen::Index k = 0; k < expected[i].size(); ++k) {
      const double e = expected[i](k), a = actual[i](k);
      if (std::isfinite(e)) {
        EXPECT_NEAR(a, e, tolerance * scale) << what << " at entry " << k;
      } else {
        EXPECT_EQ(a, e) << what << " at entry " << k;  // masked entries: −inf in both
      }
    }
  }
}

std::string case_name(const ::testing::TestParamInfo<std::tuple<size_t, int>>& info) {
  return ad::op_table()[std::get<0>(info.param)].name + "_seed" + std::to_string(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(OpTable, Float32Op,
                         ::testing::Combine(::testing::Range<size_t>(0, ad::op_table().size()), ::testing::Range(0, 3)),
                         case_name);

// The gradient checks (float64) cover the float engine because its table lists the same ops: same names, same
// order, and together they record every op kind on a TapeF.
TEST(Float32, TableListsTheOpsOfTheGradientCheckedTable) {
  const auto& in_double = ad::op_table<double>();
  const auto& in_float = ad::op_table<float>();
  ASSERT_EQ(in_float.size(), in_double.size());
  for (size_t i = 0; i < in_double.size(); ++i) EXPECT_EQ(in_float[i].name, in_double[i].name) << i;
  std::set<ad::OpKind> seen = {ad::OpKind::Leaf};
  for (const auto& entry : in_float) {
    ad::Rng rng(7);
    ad::TapeF tape;
    std::vector<ad::VarF> vars;
    for (const Matrix& m : entry.inputs(rng, ad::default_shape())) vars.push_back(tape.constant(m.cast<float>(), true));
    entry.build(tape, vars, ad::default_shape());
    for (ad::OpKind op : tape.recorded_ops()) seen.insert(op);
  }
  for (int k = 0; k < ad::kOpKindCount; ++k)
    EXPECT_TRUE(seen.count(static_cast<ad::OpKind>(k))) << "op " << ad::kOpNames[k] << " is not run in float";
}

// A masked entry is exactly 0 after a float softmax (not the 1e-39 Eigen's clamped float exp gives), and a
// fully masked row is all zeros with a zero gradient.
TEST(Float32, MaskedSoftmaxGivesExactZeros) {
  ad::TapeF tape;
  MatrixF logits(2, 3);
  logits << 1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f;
  ad::BoolMatrix hidden(2, 3);
  hidden << false, true, false, true, true, true;
  const ad::VarF x = tape.constant(logits, true);
  const ad::VarF p = ad::softmax_rows(ad::mask(x, hidden));
  tape.backward(ad::sum(ad::mul(p, tape.constant(MatrixF::Constant(2, 3, 0.7f)))));
  EXPECT_EQ(p.value()(0, 1), 0.0f);
  EXPECT_TRUE(p.value().row(1).isZero(0.0f));
  EXPECT_TRUE(x.grad().row(1).isZero(0.0f));
  EXPECT_NEAR(p.value().row(0).sum(), 1.0f, 4 * std::numeric_limits<float>::epsilon());
}

// The optimizers step float parameters as they step double ones: one Adam step from the same gradient moves
// a float parameter to the double result rounded (within a few float roundings of each factor).
TEST(Float32, AdamStepMatchesDouble) {
  ad::Rng rng(11);
  const Matrix start = ad::random_normal(rng, 4, 3), gradient = ad::random_normal(rng, 4, 3);
  ad::Parameter pd("w", start);
  ad::ParameterF pf("w", start.cast<float>());
  pd.grad = gradient;
  pf.grad = gradient.cast<float>();
  ad::AdamW adam_d(0.01, {.weight_decay = 0.1});
  ad::AdamWF adam_f(0.01, {.weight_decay = 0.1});
  for (int step = 0; step < 3; ++step) {
    adam_d.step({&pd});
    adam_f.step({&pf});
  }
  EXPECT_TRUE(pd.value.isApprox(pf.value.cast<double>(), kFloatTolerance)) << pd.value - pf.value.cast<double>();
  EXPECT_GT((pd.value - start).norm(), 1e-3);  // it moved
  // Clipping float gradients: the norm they had (accumulated in double), and the norm they are clipped to.
  const double norm = ad::clip_grad_norm(std::vector<ad::ParameterF*>{&pf}, 0.5);
  EXPECT_NEAR(norm, gradient.norm(), kFloatTolerance * gradient.norm());
  EXPECT_NEAR(pf.grad.cast<double>().norm(), 0.5, kFloatTolerance);
}

// ---- threads: the same bits in float ------------------------------------------------------------------
//
// Eigen's float kernel has its own register block: mr = 3 packets = 48 rows with AVX-512 (16 floats a
// packet), 24 with AVX, 12 with SSE; workers.cpp asserts at compile time that kRowGranule (48) is a multiple
// of the float and the double mr of the build. Here: the bits, on shapes whose sizes are not multiples of it.

bool same_bits(const MatrixF& a, const MatrixF& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         (a.size() == 0 || std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<size_t>(a.size())) == 0);
}

using GraphF = std::function<ad::VarF(ad::TapeF&, const std::vector<ad::VarF>&)>;

std::vector<MatrixF> evaluate(const GraphF& graph, const std::vector<MatrixF>& inputs, ad::Workers* workers) {
  ad::TapeF tape;
  tape.set_workers(workers);
  std::vector<ad::VarF> vars;
  for (const MatrixF& m : inputs) vars.push_back(tape.constant(m, true));
  const ad::VarF out = graph(tape, vars);
  ad::Rng rng(99);
  tape.backward(out, ad::random_normal(rng, out.rows(), out.cols()).cast<float>());
  std::vector<MatrixF> results = {out.value()};
  for (const ad::VarF& v : vars) results.push_back(v.grad());
  return results;
}

void expect_same_bits_for_any_team(const char* what, const GraphF& graph, const std::vector<MatrixF>& inputs) {
  const std::vector<MatrixF> alone = evaluate(graph, inputs, nullptr);
  for (int threads : {2, 3}) {
    ad::Workers workers(threads);
    workers.set_min_work(0);  // split every op that can split
    const std::vector<MatrixF> team = evaluate(graph, inputs, &workers);
    ASSERT_EQ(team.size(), alone.size());
    for (size_t i = 0; i < team.size(); ++i)
      EXPECT_TRUE(same_bits(team[i], alone[i]))
          << what << ": " << (i == 0 ? "value" : "gradient of input " + std::to_string(i - 1)) << " differs with "
          << threads << " threads";
  }
}

MatrixF normal(ad::Rng& rng, Eigen::Index rows, Eigen::Index cols, double std = 1.0) {
  return ad::random_normal(rng, rows, cols, std).cast<float>();
}

TEST(Float32Workers, MatmulIsBitwiseTheSameForAnyTeam) {
  ad::Rng rng(1);
  // rows × depth × cols: rows not multiples of 48 (nor of 16), a one-column product (matrix-vector), a depth
  // beyond Eigen's float cache block, and dB's rows (A's columns) split too.
  const int shapes[][3] = {{333, 70, 45}, {2000, 64, 1}, {100, 300, 7}, {97, 531, 130}, {250, 2100, 9}, {517, 64, 64}};
  for (const auto& s : shapes) {
    expect_same_bits_for_any_team("matmul", [](ad::TapeF&, const std::vector<ad::VarF>& v) { return ad::matmul(v[0], v[1]); },
                                  {normal(rng, s[0], s[1]), normal(rng, s[1], s[2])});
  }
}

TEST(Float32Workers, AttentionOpsAreBitwiseTheSameForAnyTeam) {
  ad::Rng rng(2);
  const Eigen::Index batch = 5, nq = 13, nk = 11, d = 7, dv = 6;
  expect_same_bits_for_any_team("batched scores, softmax, weighted sum",
                                [&](ad::TapeF&, const std::vector<ad::VarF>& v) {
                                  const ad::VarF s = ad::batched_scores(v[0], v[1], batch, 0.37);
                                  return ad::batched_weighted_sum(ad::softmax_rows(s), v[2], batch);
                                },
                                {normal(rng, batch * nq, d), normal(rng, batch * nk, d), normal(rng, batch * nk, dv)});
  const Eigen::Index rows = 437, cols = 29;
  ad::BoolMatrix hidden(rows, cols);
  for (Eigen::Index r = 0; r < rows; ++r)
    for (Eigen::Index c = 0; c < cols; ++c) hidden(r, c) = r % 97 == 5 || (r + c) % 7 == 0;  // whole rows masked too
  const MatrixF logits = normal(rng, rows, cols, 30.0);  // saturated rows too
  expect_same_bits_for_any_team("masked softmax",
                                [&](ad::TapeF&, const std::vector<ad::VarF>& v) { return ad::softmax_rows(ad::mask(v[0], hidden)); },
                                {logits});
  std::vector<int> targets(static_cast<size_t>(rows));
  for (size_t i = 0; i < targets.size(); ++i) targets[i] = i % 11 == 3 ? -1 : static_cast<int>(i % cols);
  expect_same_bits_for_any_team("cross entropy",
                                [&](ad::TapeF&, const std::vector<ad::VarF>& v) { return ad::cross_entropy(v[0], targets); },
                                {logits});
}

}  // namespace
