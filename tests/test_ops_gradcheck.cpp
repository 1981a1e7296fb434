// Every entry of the op table is gradient-checked over several seeds, one test per (op, seed).
#include <gtest/gtest.h>

#include <set>

#include "autodiff/op_table.hpp"
#include "autodiff/ops.hpp"

namespace {

using ad::op_table;

class OpGradcheck : public ::testing::TestWithParam<std::tuple<size_t, int>> {};

TEST_P(OpGradcheck, MatchesCentralDifferences) {
  const auto& entry = op_table()[std::get<0>(GetParam())];
  const int seed = std::get<1>(GetParam());
  ad::Rng rng(1000 + static_cast<uint64_t>(seed));
  const ad::Shape shape = ad::default_shape();
  const auto inputs = entry.inputs(rng, shape);
  const ad::GradcheckReport report = ad::gradcheck(entry.bind(shape), inputs);
  EXPECT_TRUE(report.passed) << entry.name << " seed " << seed << ": " << report.describe();
}

std::string case_name(const ::testing::TestParamInfo<std::tuple<size_t, int>>& info) {
  return op_table()[std::get<0>(info.param)].name + "_seed" + std::to_string(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(OpTable, OpGradcheck,
                         ::testing::Combine(::testing::Range<size_t>(0, op_table().size()), ::testing::Range(0, 3)),
                         case_name);

// An op that exists without a table entry fails here: every OpKind must be recorded by some entry.
TEST(OpTable, CoversEveryOpKind) {
  std::set<ad::OpKind> seen = {ad::OpKind::Leaf};
  for (const auto& entry : op_table()) {
    ad::Rng rng(7);
    ad::Tape tape;
    std::vector<ad::Var> vars;
    for (const auto& m : entry.inputs(rng, ad::default_shape())) vars.push_back(tape.constant(m, true));
    entry.build(tape, vars, ad::default_shape());
    for (ad::OpKind op : tape.recorded_ops()) seen.insert(op);
  }
  for (int k = 0; k < ad::kOpKindCount; ++k)
    EXPECT_TRUE(seen.count(static_cast<ad::OpKind>(k))) << "op " << ad::kOpNames[k] << " has no op-table entry";
}

// Shapes in the table are non-square and pairwise distinct, so a transposed formula cannot pass.
TEST(OpTable, DefaultShapeIsNonSquareAndDistinct) {
  const ad::Shape s = ad::default_shape();
  EXPECT_NE(s.rows, s.cols);
  EXPECT_NE(s.rows, s.inner);
  EXPECT_NE(s.cols, s.inner);
  EXPECT_GT(s.batch, 1);
}

}  // namespace
