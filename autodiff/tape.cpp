#include "autodiff/tape.hpp"

#include <iterator>
#include <stdexcept>

#include "autodiff/workers.hpp"

namespace ad {

template <class Scalar>
NodeOf<Scalar>& TapeOf<Scalar>::push(OpKind op, BackwardFnOf<Scalar> backward, std::initializer_list<Var> inputs) {
  if (size_ == nodes_.size()) nodes_.emplace_back();
  Node& node = nodes_[size_++];
  node.op = op;
  node.backward = backward;
  node.needs_grad = false;
  if (inputs.size() > std::size(node.inputs)) throw std::logic_error("ad::Tape: an op has more inputs than a node holds");
  int slot = 0;
  for (int& input : node.inputs) input = -1;
  for (const Var& input : inputs) {
    if (input.tape() != this) throw std::logic_error("ad::Tape: an input belongs to another tape");
    node.inputs[slot++] = input.index();
    node.needs_grad = node.needs_grad || nodes_[static_cast<size_t>(input.index())].needs_grad;
  }
  return node;
}

template <class Scalar>
VarOf<Scalar> TapeOf<Scalar>::constant(const Eigen::Ref<const Matrix>& value, bool needs_grad) {
  Node& node = push(OpKind::Leaf, nullptr, {});
  node.value.resize(value.rows(), value.cols());  // same shape as last time: no allocation
  // A batch of data can be megabytes: with workers, the columns are copied side by side.
  parallel_ranges(workers_, value.cols(), 1, static_cast<double>(value.size()), [&](Eigen::Index c, Eigen::Index count) {
    node.value.middleCols(c, count) = value.middleCols(c, count);
  });
  node.needs_grad = needs_grad;
  return last();
}

template <class Scalar>
VarOf<Scalar> TapeOf<Scalar>::parameter(Parameter& parameter) {
  Node& node = push(OpKind::Leaf, nullptr, {});
  node.value = parameter.value;
  node.needs_grad = true;
  if (parameters_.size() == parameters_.capacity()) parameters_.reserve(parameters_.size() * 2 + 8);
  parameters_.emplace_back(static_cast<int>(size_) - 1, &parameter);
  return last();
}

template <class Scalar>
void TapeOf<Scalar>::backward(Var output, const Eigen::Ref<const Matrix>& seed) {
  if (output.tape() != this) throw std::logic_error("ad::Tape::backward: output belongs to another tape");
  const Matrix& out = output.value();
  if (seed.rows() != out.rows() || seed.cols() != out.cols())
    throw std::invalid_argument("ad::Tape::backward: seed shape differs from the output's");
  zero_adjoints();
  node(output.index()).grad = seed;
  node(output.index()).grad_is_zero = false;
  sweep(output.index());
}

template <class Scalar>
void TapeOf<Scalar>::backward(Var scalar_loss) {
  if (scalar_loss.tape() != this) throw std::logic_error("ad::Tape::backward: loss belongs to another tape");
  if (scalar_loss.rows() != 1 || scalar_loss.cols() != 1)
    throw std::invalid_argument("ad::Tape::backward: the loss must be 1x1; pass a seed for other shapes");
  zero_adjoints();
  node(scalar_loss.index()).grad(0, 0) = Scalar(1);
  node(scalar_loss.index()).grad_is_zero = false;
  sweep(scalar_loss.index());
}

// A node that does not need a gradient never receives one (ops skip it), so once its adjoint is zero and
// of the right shape it stays so: the data nodes (X, targets) are not cleared again every step.
template <class Scalar>
void TapeOf<Scalar>::zero_adjoints() {
  for (size_t i = 0; i < size_; ++i) {
    Node& n = nodes_[i];
    const bool right_shape = n.grad.rows() == n.value.rows() && n.grad.cols() == n.value.cols();
    if (n.needs_grad || !n.grad_is_zero || !right_shape) {
      n.grad.resize(n.value.rows(), n.value.cols());
      parallel_ranges(workers_, n.grad.cols(), 1, static_cast<double>(n.grad.size()),
                      [&](Eigen::Index c, Eigen::Index count) { n.grad.middleCols(c, count).setZero(); });
    }
    n.grad_is_zero = !n.needs_grad;
  }
}

template <class Scalar>
void TapeOf<Scalar>::sweep(int output_index) {
  for (int i = output_index; i >= 0; --i) {
    Node& n = nodes_[static_cast<size_t>(i)];
    if (n.backward && n.needs_grad) n.backward(*this, n);
  }
  for (auto& [index, parameter] : parameters_) {
    if (index > output_index) continue;  // not upstream of the output
    const Matrix& g = nodes_[static_cast<size_t>(index)].grad;
    if (parameter->grad.rows() != g.rows() || parameter->grad.cols() != g.cols()) parameter->zero_grad();
    parameter->grad += g;
  }
}

template <class Scalar>
void TapeOf<Scalar>::reset() {
  size_ = 0;
  parameters_.clear();  // keeps capacity
}

template <class Scalar>
std::vector<OpKind> TapeOf<Scalar>::recorded_ops() const {
  std::vector<OpKind> ops;
  for (size_t i = 0; i < size_; ++i) ops.push_back(nodes_[i].op);
  return ops;
}

template class TapeOf<double>;
template class TapeOf<float>;

}  // namespace ad
