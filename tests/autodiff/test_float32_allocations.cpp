// A warmed-up float32 step allocates nothing, as a double one does: every op rebuilt on a TapeF reuses its
// node's storage and typed state, and the float optimizers step without allocating. Runs under the counting
// allocator (bench_tests).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "autodiff/op_table.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/optim.hpp"
#include "autodiff/random.hpp"
#include "experiments/src/bench/alloc_counter.hpp"

namespace {

using ad::MatrixF;

TEST(Float32Engine, RebuildingAnyOpAllocatesNothing) {
  for (const ad::OpEntryOf<float>& entry : ad::op_table<float>()) {
    ad::Rng rng(5);
    const ad::Shape shape = ad::default_shape();
    std::vector<MatrixF> inputs;
    for (const ad::Matrix& m : entry.inputs(rng, shape)) inputs.push_back(m.cast<float>());
    ad::TapeF tape;
    std::vector<ad::VarF> vars;
    vars.reserve(inputs.size());
    MatrixF seed;
    std::uint64_t allocations = 0;
    for (int pass = 0; pass < 3; ++pass) {
      const std::uint64_t before = sbx::bench::heap_allocations();
      tape.reset();
      vars.clear();
      for (const MatrixF& m : inputs) vars.push_back(tape.constant(m, true));
      const ad::VarF y = entry.build(tape, vars, shape);
      if (pass == 0) seed = MatrixF::Constant(y.rows(), y.cols(), 0.5f);
      tape.backward(y, seed);
      allocations = sbx::bench::heap_allocations() - before;
    }
    EXPECT_EQ(allocations, 0u) << entry.name << " allocates when rebuilt in float";
  }
}

// A whole float training step of a small attention-like graph (projections, scaled scores, masked softmax,
// weighted sum, cross-entropy; clipping, AdamW), the third time, allocates nothing.
TEST(Float32Engine, AWarmedUpTrainingStepAllocatesNothing) {
  ad::Rng rng(8);
  const Eigen::Index batch = 4, n = 6, width = 10, classes = 5;
  ad::ParameterF wq("W_Q", ad::random_normal(rng, width, 8).cast<float>());
  ad::ParameterF wk("W_K", ad::random_normal(rng, width, 8).cast<float>());
  ad::ParameterF wo("W_O", ad::random_normal(rng, width, classes).cast<float>());
  const std::vector<ad::ParameterF*> parameters{&wq, &wk, &wo};
  const MatrixF x = ad::random_normal(rng, batch * n, width).cast<float>();
  ad::BoolMatrix causal(batch * n, n);
  for (Eigen::Index r = 0; r < batch * n; ++r)
    for (Eigen::Index c = 0; c < n; ++c) causal(r, c) = c > r % n;
  std::vector<int> targets(static_cast<size_t>(batch * n));
  for (size_t i = 0; i < targets.size(); ++i) targets[i] = static_cast<int>(i % classes);
  ad::TapeF tape;
  ad::AdamWF optimizer(1e-3, {.weight_decay = 0.01});
  std::uint64_t allocations = 0;
  for (int step = 0; step < 3; ++step) {
    const std::uint64_t before = sbx::bench::heap_allocations();
    tape.reset();
    for (ad::ParameterF* p : parameters) p->zero_grad();
    const ad::VarF input = tape.constant(x);
    const ad::VarF scores = ad::batched_scores(ad::matmul(input, tape.parameter(wq)),
                                               ad::matmul(input, tape.parameter(wk)), batch, 0.35);
    const ad::VarF mixed = ad::batched_weighted_sum(ad::softmax_rows(ad::mask(scores, causal)), input, batch);
    tape.backward(ad::cross_entropy(ad::matmul(mixed, tape.parameter(wo)), targets));
    ad::clip_grad_norm(parameters, 1.0);
    optimizer.step(parameters);
    allocations = sbx::bench::heap_allocations() - before;
  }
  EXPECT_EQ(allocations, 0u);
}

}  // namespace
