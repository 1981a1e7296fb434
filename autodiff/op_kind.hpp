#pragma once
// Every op the engine knows. Each node records its kind, which lets the op-table test prove that every
// op listed here is gradient-checked: adding an op means adding a kind, and a kind no table entry
// records fails the test.
#include <array>
#include <string_view>

namespace ad {

#define AD_OP_KINDS(X)                                                                                  \
  X(Leaf) X(Matmul) X(Transpose) X(Add) X(Sub) X(Mul) X(Scale) X(ScaleBy) X(Sum) X(Mean) X(Exp) X(Log)   \
  X(Tanh) X(Relu) X(Gelu) X(SoftmaxRows) X(LogSoftmaxRows) X(CrossEntropy) X(MeanSquaredError)           \
  X(LayerNormRows) X(L2NormalizeRows) X(Mask) X(SliceCols) X(ConcatCols) X(BatchedScores)               \
  X(BatchedWeightedSum) X(SplitHeads) X(MergeHeads) X(Attention) X(GatherRows)

enum class OpKind {
#define AD_ENUM(name) name,
  AD_OP_KINDS(AD_ENUM)
#undef AD_ENUM
};

inline constexpr std::array kOpNames = {
#define AD_NAME(name) std::string_view(#name),
    AD_OP_KINDS(AD_NAME)
#undef AD_NAME
};

inline constexpr int kOpKindCount = static_cast<int>(kOpNames.size());

inline std::string_view op_name(OpKind op) { return kOpNames[static_cast<size_t>(op)]; }

}  // namespace ad
