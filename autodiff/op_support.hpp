#pragma once
// What the files that implement ops (ops.cpp, attention_op.cpp) share: reading a node's inputs and their
// adjoints, the shape errors, and softmax's rule for entries whose exp is subnormal. Internal to the engine.
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "autodiff/tape.hpp"

namespace ad::detail {

template <class S>
constexpr S kInf = std::numeric_limits<S>::infinity();

// Below this, exp(x) is subnormal (log of the smallest normal number, rounded towards 0: −708.4 for double,
// −87.3 for float); softmax sets such entries to exactly 0 itself. It must for double: Eigen's vectorised exp
// clamps its argument near −709 and returns 5.6e−309, never 0, even for −inf. Eigen's float exp already
// returns 0 from about −88 down (and for −inf); the floor keeps one rule for both.
template <class S>
constexpr S kExpFloor = std::is_same_v<S, float> ? S(-87) : S(-708);

template <class S>
inline NodeOf<S>& input(TapeOf<S>& tape, const NodeOf<S>& node, int k) { return tape.node(node.inputs[k]); }

// The input's adjoint if it wants one, else nullptr.
template <class S>
MatrixOf<S>* adjoint(TapeOf<S>& tape, const NodeOf<S>& node, int k) {
  NodeOf<S>& in = tape.node(node.inputs[k]);
  return in.needs_grad ? &in.grad : nullptr;
}

template <class S>
[[noreturn]] void shape_error(const char* op, const MatrixOf<S>& a, const MatrixOf<S>& b) {
  throw std::invalid_argument(std::string("ad::") + op + ": shapes " + std::to_string(a.rows()) + "x" +
                              std::to_string(a.cols()) + " and " + std::to_string(b.rows()) + "x" +
                              std::to_string(b.cols()) + " do not fit");
}

// The node's state as a State (Node::reuse_state), without the `template` keyword a dependent call needs.
template <class State, class S>
State& reuse_state(NodeOf<S>& node) {
  return node.template reuse_state<State>();
}

// B blocks need rows divisible by B; the rows of one block.
inline Eigen::Index rows_per_block(Eigen::Index rows, Eigen::Index batch, const char* op) {
  if (batch <= 0 || rows % batch != 0)
    throw std::invalid_argument(std::string("ad::") + op + ": rows are not a multiple of the batch");
  return rows / batch;
}

}  // namespace ad::detail
