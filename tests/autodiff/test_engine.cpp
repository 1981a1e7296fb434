// The tape itself: accumulation into reused nodes, explicit zeroing, readable intermediate adjoints,
// extreme logits and masked rows, and the arena reuse that makes a warmed-up step allocation-free.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "autodiff/op_table.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"
#include "autodiff/workers.hpp"
#include "experiments/src/bench/alloc_counter.hpp"

namespace {

using ad::Matrix;

TEST(Engine, NodeUsedSeveralTimesReceivesTheSum) {
  // y = sum(x ⊙ x + 3x) → dy/dx = 2x + 3 needs all three uses of x. The square is recorded first, so
  // its backward runs after the scale's has already written into x's adjoint.
  ad::Tape tape;
  Matrix x0(2, 3);
  x0 << 1, -2, 3, 0.5, 4, -1;
  ad::Var x = tape.constant(x0, true);
  ad::Var square = ad::mul(x, x);
  ad::Var triple = ad::scale(x, 3.0);
  ad::Var y = ad::sum(ad::add(square, triple));
  tape.backward(y);
  const Matrix expected = (2.0 * x0.array() + 3.0).matrix();
  EXPECT_TRUE(x.grad().isApprox(expected, 1e-14)) << x.grad();
}

TEST(Engine, IntermediateAdjointIsReadableAfterBackward) {
  // L = sum(R ⊙ softmax(S)) with S an intermediate: dL/dS must be the softmax backward of R.
  ad::Tape tape;
  ad::Rng rng(3);
  const Matrix w = ad::random_normal(rng, 3, 4);
  const Matrix r = ad::random_normal(rng, 2, 4);
  ad::Var x = tape.constant(ad::random_normal(rng, 2, 3), false);
  ad::Var s = ad::matmul(x, tape.constant(w, true));
  ad::Var p = ad::softmax_rows(s);
  tape.backward(ad::sum(ad::mul(p, tape.constant(r))));
  for (int row = 0; row < 2; ++row) {
    const Eigen::RowVectorXd pr = p.value().row(row);
    const Eigen::RowVectorXd expected = (pr.array() * (r.row(row).array() - r.row(row).dot(pr))).matrix();
    EXPECT_TRUE(s.grad().row(row).isApprox(expected, 1e-12));
  }
}

TEST(Engine, ParameterGradientsAccumulateUntilZeroed) {
  ad::Rng rng(5);
  ad::Parameter w("W", ad::random_normal(rng, 3, 2));
  const Matrix x0 = ad::random_normal(rng, 4, 3);
  ad::Tape tape;
  auto step = [&] {
    tape.reset();
    tape.backward(ad::sum(ad::matmul(tape.constant(x0), tape.parameter(w))));
  };
  step();
  const Matrix once = w.grad;
  EXPECT_TRUE(once.isApprox(x0.transpose() * Matrix::Ones(4, 2), 1e-14));
  step();
  EXPECT_TRUE(w.grad.isApprox(2.0 * once, 1e-14)) << "a second backward must add to the gradient";
  w.zero_grad();
  EXPECT_EQ(w.grad.norm(), 0.0);
  step();
  EXPECT_TRUE(w.grad.isApprox(once, 1e-14));
}

TEST(Engine, ExtremeLogitsGiveFiniteSoftmaxAndGradients) {
  ad::Tape tape;
  Matrix logits(2, 3);
  logits << 1e4, 0, -1e4, -1e4, 1e4, 0;
  ad::Var s = tape.constant(logits, true);
  ad::Var p = ad::softmax_rows(s);
  ad::Var lp = ad::log_softmax_rows(s);
  ad::Rng rng(1);
  tape.backward(ad::add(ad::sum(ad::mul(p, tape.constant(ad::random_normal(rng, 2, 3)))),
                        ad::sum(ad::mul(lp, tape.constant(ad::random_normal(rng, 2, 3))))));
  EXPECT_TRUE(p.value().allFinite());
  EXPECT_TRUE(lp.value().allFinite());
  EXPECT_TRUE(s.grad().allFinite());
  EXPECT_DOUBLE_EQ(p.value()(0, 0), 1.0);
  EXPECT_DOUBLE_EQ(lp.value()(0, 2), -2e4);
}

TEST(Engine, FullyMaskedRowGivesZerosNotNaN) {
  ad::Tape tape;
  Matrix logits(2, 3);
  logits << 0.3, -0.2, 1.0, 2.0, 1.0, 0.0;
  ad::BoolMatrix hidden(2, 3);
  hidden << false, true, false, true, true, true;
  ad::Var s = tape.constant(logits, true);
  ad::Var p = ad::softmax_rows(ad::mask(s, hidden));
  ad::Var lp = ad::log_softmax_rows(ad::mask(s, hidden));
  tape.backward(ad::add(ad::sum(ad::mul(p, tape.constant(Matrix::Constant(2, 3, 0.7)))),
                        ad::sum(ad::mul(ad::exp(lp), tape.constant(Matrix::Constant(2, 3, -0.4))))));
  EXPECT_TRUE(p.value().row(1).isZero());
  EXPECT_EQ(p.value()(0, 1), 0.0);
  EXPECT_NEAR(p.value().row(0).sum(), 1.0, 1e-15);
  EXPECT_TRUE(lp.value().row(1).isZero());
  EXPECT_TRUE(s.grad().allFinite());
  EXPECT_TRUE(s.grad().row(1).isZero());
  EXPECT_EQ(s.grad()(0, 1), 0.0);
}

TEST(Engine, ResetReusesNodeStorage) {
  // The arena keeps every node's matrices: the second identical evaluation must reuse the same buffers.
  ad::Rng rng(2);
  ad::Parameter w("W", ad::random_normal(rng, 5, 3));
  const Matrix x0 = ad::random_normal(rng, 4, 5);
  ad::Tape tape;
  std::vector<const double*> first;
  for (int pass = 0; pass < 2; ++pass) {
    tape.reset();
    ad::Var y = ad::softmax_rows(ad::matmul(tape.constant(x0), tape.parameter(w)));
    tape.backward(ad::mean(y));
    for (size_t i = 0; i < tape.size(); ++i) {
      if (pass == 0) first.push_back(tape.node(static_cast<int>(i)).value.data());
      else EXPECT_EQ(first[i], tape.node(static_cast<int>(i)).value.data()) << "node " << i << " reallocated";
    }
  }
}

// Every op keeps its backward state typed in the node (op_state.hpp); rebuilding the same graph must find it
// and reuse its matrices. For every op-table entry, a third forward + backward after reset allocates nothing.
TEST(Engine, RebuildingAnyOpReusesItsStateWithoutAllocating) {
  for (const ad::OpEntry& entry : ad::op_table()) {
    ad::Rng rng(5);
    const ad::Shape shape = ad::default_shape();
    const std::vector<Matrix> inputs = entry.inputs(rng, shape);
    ad::Tape tape;
    std::vector<ad::Var> vars;
    vars.reserve(inputs.size());
    Matrix seed;
    std::uint64_t allocations = 0;
    for (int pass = 0; pass < 3; ++pass) {
      const std::uint64_t before = sbx::bench::heap_allocations();
      tape.reset();
      vars.clear();
      for (const Matrix& m : inputs) vars.push_back(tape.constant(m, true));
      const ad::Var y = entry.build(tape, vars, shape);
      if (pass == 0) seed = Matrix::Constant(y.rows(), y.cols(), 0.5);
      tape.backward(y, seed);
      allocations = sbx::bench::heap_allocations() - before;
    }
    EXPECT_EQ(allocations, 0u) << entry.name << " allocates when rebuilt";
  }
}

// Fused attention at a shape with several tiles per block, its blocks shared over a team of 2, in double
// and in float, learned scale and causal mask: the third forward + backward allocates nothing (its tiles,
// per-thread scratch and the team's run are all reused).
template <class S>
std::uint64_t fused_attention_allocations() {
  using M = ad::MatrixOf<S>;
  ad::Rng rng(11);
  const Eigen::Index batch = 3, nq = 100, nk = 700, d = 5, dv = 6;
  const M q = ad::random_normal(rng, batch * nq, d).template cast<S>();
  const M k = ad::random_normal(rng, batch * nk, d).template cast<S>();
  const M v = ad::random_normal(rng, batch * nk, dv).template cast<S>();
  const M theta = M::Constant(1, 1, S(0.7));
  const M seed = M::Constant(batch * nq, dv, S(0.5));
  ad::Workers workers(2);
  workers.set_min_work(0);
  ad::TapeOf<S> tape;
  tape.set_workers(&workers);
  std::uint64_t allocations = 0;
  for (int pass = 0; pass < 3; ++pass) {
    const std::uint64_t before = sbx::bench::heap_allocations();
    tape.reset();
    const ad::VarOf<S> z = ad::attention(tape.constant(q, true), tape.constant(k, true), tape.constant(v, true), batch,
                                         tape.constant(theta, true), ad::AttentionMask::Causal);
    tape.backward(z, seed);
    allocations = sbx::bench::heap_allocations() - before;
  }
  return allocations;
}

TEST(Engine, WarmedUpFusedAttentionWithATeamAllocatesNothing) {
  EXPECT_LT(ad::attention_tile_rows<double>(700), 100) << "the shape should have several tiles per block";
  EXPECT_EQ(fused_attention_allocations<double>(), 0u);
  EXPECT_EQ(fused_attention_allocations<float>(), 0u);
}

TEST(Engine, DeepGraphNeedsNoRecursion) {
  ad::Tape tape;
  ad::Var x = tape.constant(Matrix::Constant(1, 2, 0.5), true);
  ad::Var y = x;
  for (int i = 0; i < 200000; ++i) y = ad::scale(y, 1.0);
  tape.backward(ad::sum(y));
  EXPECT_TRUE(x.grad().isApprox(Matrix::Ones(1, 2)));
}

TEST(Engine, ShapeMismatchesThrow) {
  ad::Tape tape;
  ad::Var a = tape.constant(Matrix::Zero(2, 3));
  ad::Var b = tape.constant(Matrix::Zero(2, 3));
  EXPECT_THROW(ad::matmul(a, b), std::invalid_argument);
  EXPECT_THROW(ad::batched_scores(a, b, 4), std::invalid_argument);
}

}  // namespace
