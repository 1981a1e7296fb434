// Every entry of the op table is gradient-checked over several seeds, one test per (op, seed); its value is
// checked against the entry's reference forward, and its error inputs must throw and record nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <sstream>
#include <stdexcept>

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

// The op's value against its reference forward: seed 0 at the default shape, seeds 1 and 2 at random shapes.
class OpReference : public ::testing::TestWithParam<std::tuple<size_t, int>> {};

TEST_P(OpReference, ValueMatchesTheReferenceForward) {
  const auto& entry = op_table()[std::get<0>(GetParam())];
  ASSERT_NE(entry.reference, nullptr) << "op-table entry '" << entry.name
                                      << "' has no reference forward: add one (autodiff/op_references.hpp)";
  const int seed = std::get<1>(GetParam());
  ad::Rng rng(2000 + static_cast<uint64_t>(seed));
  const ad::Shape shape = seed == 0 ? ad::default_shape() : ad::random_shape(rng);
  const auto inputs = entry.inputs(rng, shape);
  ad::Tape tape;
  std::vector<ad::Var> vars;
  for (const auto& m : inputs) vars.push_back(tape.constant(m));
  const ad::Matrix value = entry.build(tape, vars, shape).value();
  const ad::Matrix expected = entry.reference(inputs, shape);
  ASSERT_EQ(value.rows(), expected.rows()) << entry.name;
  ASSERT_EQ(value.cols(), expected.cols()) << entry.name;
  for (Eigen::Index r = 0; r < value.rows(); ++r)
    for (Eigen::Index c = 0; c < value.cols(); ++c) {
      const double v = value(r, c), e = expected(r, c);
      if (std::isfinite(e)) {
        EXPECT_NEAR(v, e, 1e-12 * (1.0 + std::abs(e))) << entry.name << " at (" << r << ", " << c << ")";
      } else {
        EXPECT_EQ(v, e) << entry.name << " at (" << r << ", " << c << ")";
      }
    }
}

INSTANTIATE_TEST_SUITE_P(OpTable, OpReference,
                         ::testing::Combine(::testing::Range<size_t>(0, op_table().size()), ::testing::Range(0, 3)),
                         case_name);

// Every error input of every entry throws std::invalid_argument, and the throw leaves no node on the tape
// (an op validates before it records), at the default shape and at a random one.
class OpErrors : public ::testing::TestWithParam<size_t> {};

TEST_P(OpErrors, BadInputsThrowAndRecordNothing) {
  const auto& entry = op_table()[GetParam()];
  if (entry.error_inputs == nullptr) GTEST_SKIP() << entry.name << " rejects nothing";
  ad::Rng rng(31);
  for (const ad::Shape& shape : {ad::default_shape(), ad::random_shape(rng)}) {
    const auto cases = entry.error_inputs(shape);
    EXPECT_FALSE(cases.empty()) << entry.name;
    for (const auto& bad : cases) {
      ad::Tape tape;
      std::vector<ad::Var> vars;
      for (const auto& m : bad.inputs) vars.push_back(tape.constant(m, true));
      const ad::OpBuild build = bad.build != nullptr ? bad.build : entry.build;
      EXPECT_THROW(build(tape, vars, shape), std::invalid_argument) << entry.name << ": " << bad.what;
      EXPECT_EQ(tape.size(), vars.size()) << entry.name << ": " << bad.what << " left a node on the tape";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(OpTable, OpErrors, ::testing::Range<size_t>(0, op_table().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) { return op_table()[info.param].name; });

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
