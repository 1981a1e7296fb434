// Forward and backward of the row gather that looks tokens up in an embedding table (and positions up in a
// table of learned positions). The conventions are ops.cpp's: backward adds into its input's adjoint, and the
// function is a template over the tape's scalar, compiled for float and double at the end. A gather instead
// of a one-hot product: the product would cost rows × V × d and its backward build a V-wide matrix per token.
#include "autodiff/ops.hpp"

#include "autodiff/op_support.hpp"

#include <stdexcept>
#include <string>

namespace ad {
using detail::adjoint;
using detail::reuse_state;

// Y_r = T_{ids[r]}; dT_{ids[r]} += G_r (a scatter-add: repeated ids sum, in row order).
template <class S>
static void gather_rows_backward(TapeOf<S>& t, NodeOf<S>& n) {
  MatrixOf<S>* gt = adjoint(t, n, 0);
  if (!gt) return;
  const std::vector<int>& ids = *std::get<GatherState>(n.state).ids;
  for (Eigen::Index r = 0; r < n.grad.rows(); ++r) gt->row(ids[static_cast<size_t>(r)]) += n.grad.row(r);
}
template <class S>
VarOf<S> gather_rows(VarOf<S> table, const std::vector<int>& ids) {
  const Eigen::Index rows = table.rows();
  if (ids.empty()) throw std::invalid_argument("ad::gather_rows: no ids");
  for (const int id : ids)
    if (id < 0 || id >= rows)
      throw std::invalid_argument("ad::gather_rows: id " + std::to_string(id) + " is outside the table's " +
                                  std::to_string(rows) + " rows");
  NodeOf<S>& n = table.tape()->push(OpKind::GatherRows, gather_rows_backward<S>, {table});
  reuse_state<GatherState>(n).ids = &ids;
  n.value.resize(static_cast<Eigen::Index>(ids.size()), table.cols());
  const MatrixOf<S>& tv = table.value();
  for (size_t r = 0; r < ids.size(); ++r) n.value.row(static_cast<Eigen::Index>(r)) = tv.row(ids[r]);
  return table.tape()->last();
}

template VarOf<double> gather_rows(VarOf<double>, const std::vector<int>&);
template VarOf<float> gather_rows(VarOf<float>, const std::vector<int>&);

}  // namespace ad
