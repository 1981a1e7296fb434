#pragma once
// Reverse-mode automatic differentiation over whole matrices.
//
// A Tape records one evaluation as a list of nodes. Every node holds a matrix value, the adjoint (gradient)
// of the output with respect to it, and a backward function that pushes its adjoint to its inputs. Nodes
// are appended in evaluation order, so walking the list backwards is a reverse topological order:
// backward() is one loop, no recursion, and any depth works.
//
// The tape is an arena: reset() forgets the nodes but keeps their matrices, so when the next step builds
// the same graph every node gets back storage of the right size and a warmed-up step allocates nothing.
//
// The engine runs in either precision: every type is a template over its Scalar (float or double, both
// compiled once in the .cpp files). The plain names (Tape, Var, Node, Parameter, Matrix) are the double
// engine; the float one is TapeF, VarF, NodeF, ParameterF, MatrixF. A graph is of one precision: its inputs
// are converted when they enter it (Tape::constant of a double matrix on a TapeF is a compile error; cast
// with .cast<float>() first).
#include <Eigen/Core>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "autodiff/op_kind.hpp"
#include "autodiff/op_state.hpp"

namespace ad {

template <class Scalar>
class TapeOf;
class Workers;
template <class Scalar>
struct NodeOf;
template <class Scalar>
using BackwardFnOf = void (*)(TapeOf<Scalar>& tape, NodeOf<Scalar>& node);

template <class Scalar>
struct NodeOf {
  MatrixOf<Scalar> value;
  MatrixOf<Scalar> grad;  // adjoint: dOutput/dvalue, same shape as value
  OpKind op = OpKind::Leaf;
  BackwardFnOf<Scalar> backward = nullptr;
  bool needs_grad = false;
  bool grad_is_zero = false;    // grad is known to be all zeros (kept by nodes that never receive an adjoint)
  int inputs[4] = {-1, -1, -1, -1};  // four for fused attention with a learned scale (Q, K, V, scale)
  OpState<Scalar> state;  // what the op keeps for its backward, typed (op_state.hpp)

  // The node's state as an S, reusing the one the node already holds when it is an S (with its matrices
  // and their sizes), so that rebuilding the same graph allocates nothing.
  template <class S>
  S& reuse_state() {
    if (S* s = std::get_if<S>(&state)) return *s;
    return state.template emplace<S>();
  }
};

// A learnable matrix that outlives the tape. Its grad is where backward() accumulates; zero it explicitly.
template <class Scalar>
struct ParameterOf {
  std::string name;
  MatrixOf<Scalar> value;
  MatrixOf<Scalar> grad;

  ParameterOf() = default;
  ParameterOf(std::string n, MatrixOf<Scalar> v)
      : name(std::move(n)), value(std::move(v)), grad(MatrixOf<Scalar>::Zero(value.rows(), value.cols())) {}
  void zero_grad() { grad.setZero(value.rows(), value.cols()); }
};

// A handle to a node: cheap to copy, valid until the tape is reset.
template <class Scalar>
class VarOf {
 public:
  VarOf() = default;
  VarOf(TapeOf<Scalar>* tape, int index) : tape_(tape), index_(index) {}
  const MatrixOf<Scalar>& value() const;
  const MatrixOf<Scalar>& grad() const;
  Eigen::Index rows() const { return value().rows(); }
  Eigen::Index cols() const { return value().cols(); }
  int index() const { return index_; }
  TapeOf<Scalar>* tape() const { return tape_; }
  NodeOf<Scalar>& node() const;

 private:
  TapeOf<Scalar>* tape_ = nullptr;
  int index_ = -1;
};

template <class Scalar>
class TapeOf {
 public:
  using Matrix = MatrixOf<Scalar>;
  using Node = NodeOf<Scalar>;
  using Var = VarOf<Scalar>;
  using Parameter = ParameterOf<Scalar>;

  TapeOf() = default;
  TapeOf(const TapeOf&) = delete;
  TapeOf& operator=(const TapeOf&) = delete;

  // A constant input (data): no gradient is propagated into it unless needs_grad is set.
  Var constant(const Eigen::Ref<const Matrix>& value, bool needs_grad = false);
  // A parameter's current value; backward() adds its gradient to parameter.grad.
  Var parameter(Parameter& parameter);

  // Append a node for an op and return it with its value still to be filled. The node's inputs are
  // recorded, and it needs a gradient when any input does.
  Node& push(OpKind op, BackwardFnOf<Scalar> backward, std::initializer_list<Var> inputs);
  Var last() { return Var(this, static_cast<int>(size_) - 1); }

  // Reverse sweep from `output`, seeded with dOutput/dOutput = seed (use a 1x1 of 1 for a scalar loss).
  // Every node's adjoint is recomputed from zero, then parameters' grads are accumulated (+=).
  void backward(Var output, const Eigen::Ref<const Matrix>& seed);
  void backward(Var scalar_loss);

  // Forget the nodes, keep their storage for the next evaluation.
  void reset();

  Node& node(int index) { return nodes_[static_cast<size_t>(index)]; }
  const Node& node(int index) const { return nodes_[static_cast<size_t>(index)]; }
  size_t size() const { return size_; }
  // Which op kinds this tape has recorded (used to check that the op table covers every op).
  std::vector<OpKind> recorded_ops() const;

  // A team the ops split their large products and passes over (workers.hpp); null (the default): this
  // thread alone. Results are the same bits either way. The team must outlive its use by the tape.
  void set_workers(Workers* workers) { workers_ = workers; }
  Workers* workers() const { return workers_; }

 private:
  void zero_adjoints();
  void sweep(int output_index);  // run the backward functions from output_index down to the first node

  // A deque, so that references to nodes stay valid while new nodes are appended. It grows and never
  // shrinks: nodes_[size_..] are spare storage for the next evaluation.
  std::deque<Node> nodes_;
  size_t size_ = 0;
  std::vector<std::pair<int, Parameter*>> parameters_;  // parameter nodes to accumulate into
  Workers* workers_ = nullptr;
};

template <class Scalar>
inline NodeOf<Scalar>& VarOf<Scalar>::node() const { return tape_->node(index_); }
template <class Scalar>
inline const MatrixOf<Scalar>& VarOf<Scalar>::value() const { return tape_->node(index_).value; }
template <class Scalar>
inline const MatrixOf<Scalar>& VarOf<Scalar>::grad() const { return tape_->node(index_).grad; }

// Both precisions are compiled in tape.cpp.
extern template class TapeOf<double>;
extern template class TapeOf<float>;

// The double engine under its plain names (what the models, the trainer and gradient checks use) ...
using Tape = TapeOf<double>;
using Var = VarOf<double>;
using Node = NodeOf<double>;
using Parameter = ParameterOf<double>;
using BackwardFn = BackwardFnOf<double>;
// ... and the float engine.
using TapeF = TapeOf<float>;
using VarF = VarOf<float>;
using NodeF = NodeOf<float>;
using ParameterF = ParameterOf<float>;

}  // namespace ad
