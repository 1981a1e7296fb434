#include "autodiff/op_table.hpp"

#include <algorithm>

#include "autodiff/op_references.hpp"
#include "autodiff/ops.hpp"

namespace ad {

namespace {

using Inputs = std::vector<Matrix>;

Matrix uniform(Rng& rng, Eigen::Index rows, Eigen::Index cols, double lo, double hi) {
  std::uniform_real_distribution<double> u(lo, hi);
  Matrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m(i) = u(rng);
  return m;
}

// Entries at least 0.1 away from 0, so relu's kink is never inside a finite-difference step.
Matrix away_from_zero(Rng& rng, Eigen::Index rows, Eigen::Index cols) {
  Matrix m = uniform(rng, rows, cols, 0.1, 1.5);
  std::bernoulli_distribution sign(0.5);
  for (Eigen::Index i = 0; i < m.size(); ++i)
    if (sign(rng)) m(i) = -m(i);
  return m;
}

// A fixed mask for a rows×cols logit matrix: a causal-like pattern, and the last row hidden entirely so
// that the fully-masked case is checked too.
const BoolMatrix& mask_pattern(Eigen::Index rows, Eigen::Index cols) {
  thread_local BoolMatrix hidden;
  hidden.resize(rows, cols);
  for (Eigen::Index r = 0; r < rows; ++r)
    for (Eigen::Index c = 0; c < cols; ++c) hidden(r, c) = (c > r + 1) || (rows > 1 && r == rows - 1);
  return hidden;
}

// Class targets for a rows×classes logit matrix, with row 1 ignored (−1) when there are enough rows.
const std::vector<int>& class_targets(Eigen::Index rows, Eigen::Index classes) {
  thread_local std::vector<int> targets;
  targets.resize(static_cast<size_t>(rows));
  for (Eigen::Index r = 0; r < rows; ++r) targets[static_cast<size_t>(r)] = static_cast<int>((3 * r + 1) % classes);
  if (rows > 2) targets[1] = -1;
  return targets;
}

// Ids into a table of `rows` rows for a gather of count rows: every id repeats within the first few rows when
// count > rows, so the backward's scatter-add has sums to make, and the order is not the table's.
const std::vector<int>& gather_ids(Eigen::Index count, Eigen::Index rows) {
  thread_local std::vector<int> ids;
  ids.resize(static_cast<size_t>(count));
  for (Eigen::Index r = 0; r < count; ++r) ids[static_cast<size_t>(r)] = static_cast<int>((2 * r + 1) % rows);
  return ids;
}
// A gather of batch·rows + 1 ids (more than the table's cols rows at the default shape) from a cols × inner table.
Eigen::Index gather_count(const Shape& s) { return s.batch * s.rows + 1; }

Inputs one(Rng& rng, const Shape& s) { return {random_normal(rng, s.rows, s.cols)}; }
Inputs two_same(Rng& rng, const Shape& s) { return {random_normal(rng, s.rows, s.cols), random_normal(rng, s.rows, s.cols)}; }
Inputs with_row(Rng& rng, const Shape& s) { return {random_normal(rng, s.rows, s.cols), random_normal(rng, 1, s.cols)}; }
Inputs logits(Rng& rng, const Shape& s) { return {random_normal(rng, s.rows, s.cols, 2.0)}; }

// Error inputs: only their shapes matter.
Matrix of(Eigen::Index rows, Eigen::Index cols) { return Matrix::Ones(rows, cols); }
template <class S>
using ErrorsOf = std::vector<OpErrorInputOf<S>>;
// Two same-shape operands that do not fit: a wrong column count, a wrong row count, the transposed shape.
template <class S>
ErrorsOf<S> mismatched_pair(const Shape& s) {
  return {{"second operand has one more column", {of(s.rows, s.cols), of(s.rows, s.cols + 1)}},
          {"second operand has one more row", {of(s.rows, s.cols), of(s.rows + 1, s.cols)}},
          {"second operand is transposed", {of(s.rows, s.cols), of(s.cols, s.rows)}}};
}
template <class S>
ErrorsOf<S> broadcast_mismatch(const Shape& s) {
  return {{"row to broadcast has one more column", {of(s.rows, s.cols), of(1, s.cols + 1)}},
          {"a column is not broadcast", {of(s.rows, s.cols), of(s.rows, 1)}}};
}
// Batched products: B blocks need rows divisible by B. The first operand is B·rows × first_cols, the second
// B·cols × inner (scores: queries and keys; weighted sum: weights and values). With B = 1 every row count is
// a multiple, so there is nothing to reject.
template <class S>
ErrorsOf<S> batched_mismatch(const Shape& s, Eigen::Index first_cols) {
  if (s.batch < 2) return {};
  return {{"first operand's rows are not a multiple of the batch",
           {of(s.batch * s.rows + 1, first_cols), of(s.batch * s.cols, s.inner)}},
          {"second operand's rows are not a multiple of the batch",
           {of(s.batch * s.rows, first_cols), of(s.batch * s.cols + 1, s.inner)}}};
}

Eigen::Index value_width(const Shape& s) { return s.rows + s.cols + s.inner; }
Inputs attention_inputs(Rng& rng, const Shape& s) {
  return {random_normal(rng, s.batch * s.rows, s.inner), random_normal(rng, s.batch * s.cols, s.inner),
          random_normal(rng, s.batch * s.cols, value_width(s))};
}
template <class S>
ErrorsOf<S> attention_mismatch(const Shape& s) {
  const Eigen::Index b = s.batch, dv = value_width(s);
  ErrorsOf<S> e = {{"queries and keys of different widths", {of(b * s.rows, s.inner), of(b * s.cols, s.inner + 1), of(b * s.cols, dv)}},
                   {"one value row more than keys", {of(b * s.rows, s.inner), of(b * s.cols, s.inner), of(b * s.cols + 1, dv)}},
                   {"a batch of 0", {of(b * s.rows, s.inner), of(b * s.cols, s.inner), of(b * s.cols, dv)},
                    [](TapeOf<S>&, const std::vector<VarOf<S>>& x, const Shape&) { return attention(x[0], x[1], x[2], 0, 1.0); }}};
  if (b > 1)
    e.push_back({"query rows that are not a multiple of the batch",
                 {of(b * s.rows + 1, s.inner), of(b * s.cols, s.inner), of(b * s.cols, dv)}});
  return e;
}

template <class S>
std::vector<OpEntryOf<S>> make_table() {
  using V = const std::vector<VarOf<S>>&;
  using Tape = TapeOf<S>;
  using Errors = ErrorsOf<S>;
  using X = const Inputs&;
  namespace ref = reference;
  std::vector<OpEntryOf<S>> t;
  t.push_back({"matmul",
               [](Rng& rng, const Shape& s) -> Inputs {
                 return {random_normal(rng, s.rows, s.inner), random_normal(rng, s.inner, s.cols)};
               },
               [](Tape&, V x, const Shape&) { return matmul(x[0], x[1]); },
               [](X x, const Shape&) { return ref::matmul(x[0], x[1]); },
               [](const Shape& s) -> Errors {
                 return {{"inner sizes differ", {of(s.rows, s.inner), of(s.inner + 1, s.cols)}}};
               }});
  t.push_back({"transpose", one, [](Tape&, V x, const Shape&) { return transpose(x[0]); },
               [](X x, const Shape&) { return ref::transpose(x[0]); }});
  t.push_back({"add", two_same, [](Tape&, V x, const Shape&) { return add(x[0], x[1]); },
               [](X x, const Shape&) { return ref::add(x[0], x[1]); }, mismatched_pair<S>});
  t.push_back({"add_row_broadcast", with_row, [](Tape&, V x, const Shape&) { return add(x[0], x[1]); },
               [](X x, const Shape&) { return ref::add(x[0], x[1]); }, broadcast_mismatch<S>});
  t.push_back({"sub", two_same, [](Tape&, V x, const Shape&) { return sub(x[0], x[1]); },
               [](X x, const Shape&) { return ref::add(x[0], x[1], -1.0); }, mismatched_pair<S>});
  t.push_back({"sub_row_broadcast", with_row, [](Tape&, V x, const Shape&) { return sub(x[0], x[1]); },
               [](X x, const Shape&) { return ref::add(x[0], x[1], -1.0); }, broadcast_mismatch<S>});
  t.push_back({"mul", two_same, [](Tape&, V x, const Shape&) { return mul(x[0], x[1]); },
               [](X x, const Shape&) { return ref::mul(x[0], x[1]); }, mismatched_pair<S>});
  t.push_back({"scale", one, [](Tape&, V x, const Shape&) { return scale(x[0], -1.7); },
               [](X x, const Shape&) { return ref::scale(x[0], -1.7); }});
  t.push_back({"scale_by",
               [](Rng& rng, const Shape& s) -> Inputs { return {random_normal(rng, s.rows, s.cols), random_normal(rng, 1, 1)}; },
               [](Tape&, V x, const Shape&) { return scale_by(x[0], x[1]); },
               [](X x, const Shape&) { return ref::scale(x[0], x[1](0, 0)); },
               [](const Shape& s) -> Errors {
                 return {{"the scale is 1x2, not 1x1", {of(s.rows, s.cols), of(1, 2)}},
                         {"the scale is a whole row", {of(s.rows, s.cols), of(1, s.cols)}}};
               }});
  t.push_back({"sum", one, [](Tape&, V x, const Shape&) { return sum(x[0]); },
               [](X x, const Shape&) { return ref::sum(x[0]); }});
  t.push_back({"mean", one, [](Tape&, V x, const Shape&) { return mean(x[0]); },
               [](X x, const Shape&) { return ref::mean(x[0]); }});
  t.push_back({"exp", one, [](Tape&, V x, const Shape&) { return exp(x[0]); },
               [](X x, const Shape&) { return ref::exp(x[0]); }});
  t.push_back({"log", [](Rng& rng, const Shape& s) -> Inputs { return {uniform(rng, s.rows, s.cols, 0.5, 2.0)}; },
               [](Tape&, V x, const Shape&) { return log(x[0]); },
               [](X x, const Shape&) { return ref::log(x[0]); }});
  t.push_back({"tanh", one, [](Tape&, V x, const Shape&) { return tanh(x[0]); },
               [](X x, const Shape&) { return ref::tanh(x[0]); }});
  t.push_back({"relu", [](Rng& rng, const Shape& s) -> Inputs { return {away_from_zero(rng, s.rows, s.cols)}; },
               [](Tape&, V x, const Shape&) { return relu(x[0]); },
               [](X x, const Shape&) { return ref::relu(x[0]); }});
  t.push_back({"gelu", one, [](Tape&, V x, const Shape&) { return gelu(x[0]); },
               [](X x, const Shape&) { return ref::gelu(x[0]); }});
  t.push_back({"softmax_rows", logits, [](Tape&, V x, const Shape&) { return softmax_rows(x[0]); },
               [](X x, const Shape&) { return ref::softmax_rows(x[0]); }});
  t.push_back({"log_softmax_rows", logits, [](Tape&, V x, const Shape&) { return log_softmax_rows(x[0]); },
               [](X x, const Shape&) { return ref::log_softmax_rows(x[0]); }});
  t.push_back({"cross_entropy", logits,
               [](Tape&, V x, const Shape&) { return cross_entropy(x[0], class_targets(x[0].rows(), x[0].cols())); },
               [](X x, const Shape&) { return ref::cross_entropy(x[0], class_targets(x[0].rows(), x[0].cols())); },
               [](const Shape& s) -> Errors {
                 return {{"one target fewer than rows", {of(s.rows, s.cols)},
                          [](Tape&, V x, const Shape&) {
                            thread_local std::vector<int> targets;
                            targets.assign(static_cast<size_t>(x[0].rows() - 1), 0);
                            return cross_entropy(x[0], targets);
                          }},
                         {"a target equal to the number of classes", {of(s.rows, s.cols)},
                          [](Tape&, V x, const Shape&) {
                            thread_local std::vector<int> targets;
                            targets.assign(static_cast<size_t>(x[0].rows()), 0);
                            targets.back() = static_cast<int>(x[0].cols());
                            return cross_entropy(x[0], targets);
                          }}};
               }});
  t.push_back({"mean_squared_error", two_same, [](Tape&, V x, const Shape&) { return mean_squared_error(x[0], x[1]); },
               [](X x, const Shape&) { return ref::mean_squared_error(x[0], x[1]); }, mismatched_pair<S>});
  t.push_back({"layer_norm_rows", one, [](Tape&, V x, const Shape&) { return layer_norm_rows(x[0]); },
               [](X x, const Shape&) { return ref::layer_norm_rows(x[0]); }});
  t.push_back({"layer_norm_rows_affine",
               [](Rng& rng, const Shape& s) -> Inputs {
                 return {random_normal(rng, s.rows, s.cols), random_normal(rng, 1, s.cols), random_normal(rng, 1, s.cols)};
               },
               [](Tape&, V x, const Shape&) { return layer_norm_rows(x[0], x[1], x[2]); },
               [](X x, const Shape&) { return ref::layer_norm_rows(x[0], x[1], x[2]); },
               [](const Shape& s) -> Errors {
                 return {{"gain has one more column", {of(s.rows, s.cols), of(1, s.cols + 1), of(1, s.cols)}},
                         {"bias has two rows", {of(s.rows, s.cols), of(1, s.cols), of(2, s.cols)}}};
               }});
  t.push_back({"l2_normalize_rows", one, [](Tape&, V x, const Shape&) { return l2_normalize_rows(x[0]); },
               [](X x, const Shape&) { return ref::l2_normalize_rows(x[0]); }});
  // A mask is only meaningful before a softmax: alone its output has −inf entries, and Σ R⊙Y is −inf.
  t.push_back({"mask_then_softmax", logits,
               [](Tape&, V x, const Shape&) { return softmax_rows(mask(x[0], mask_pattern(x[0].rows(), x[0].cols()))); },
               [](X x, const Shape&) { return ref::softmax_rows(ref::mask(x[0], mask_pattern(x[0].rows(), x[0].cols()))); },
               [](const Shape& s) -> Errors {
                 return {{"the mask has one more column than the logits", {of(s.rows, s.cols)},
                          [](Tape&, V x, const Shape&) { return mask(x[0], mask_pattern(x[0].rows(), x[0].cols() + 1)); }}};
               }});
  // log-softmax of masked logits, read back through exp so that the −inf entries become 0.
  t.push_back({"mask_then_log_softmax_live", logits,
               [](Tape&, V x, const Shape&) {
                 return exp(log_softmax_rows(mask(x[0], mask_pattern(x[0].rows(), x[0].cols()))));
               },
               [](X x, const Shape&) {
                 return ref::exp(ref::log_softmax_rows(ref::mask(x[0], mask_pattern(x[0].rows(), x[0].cols()))));
               }});
  t.push_back({"slice_cols",
               [](Rng& rng, const Shape& s) -> Inputs { return {random_normal(rng, s.rows, s.cols + 2)}; },
               [](Tape&, V x, const Shape&) { return slice_cols(x[0], 1, x[0].cols() - 2); },
               [](X x, const Shape&) { return ref::slice_cols(x[0], 1, x[0].cols() - 2); },
               [](const Shape& s) -> Errors {
                 return {{"the slice runs one column past the end", {of(s.rows, s.cols)},
                          [](Tape&, V x, const Shape&) { return slice_cols(x[0], 1, x[0].cols()); }},
                         {"an empty slice", {of(s.rows, s.cols)},
                          [](Tape&, V x, const Shape&) { return slice_cols(x[0], 0, 0); }},
                         {"a negative first column", {of(s.rows, s.cols)},
                          [](Tape&, V x, const Shape&) { return slice_cols(x[0], -1, 2); }}};
               }});
  t.push_back({"concat_cols",
               [](Rng& rng, const Shape& s) -> Inputs { return {random_normal(rng, s.rows, s.cols), random_normal(rng, s.rows, s.inner)}; },
               [](Tape&, V x, const Shape&) { return concat_cols(x[0], x[1]); },
               [](X x, const Shape&) { return ref::concat_cols(x[0], x[1]); },
               [](const Shape& s) -> Errors {
                 return {{"row counts differ", {of(s.rows, s.cols), of(s.rows + 1, s.inner)}}};
               }});
  // Batched attention: B blocks of nq = rows query rows and nk = cols key rows, feature width inner.
  t.push_back({"batched_scores",
               [](Rng& rng, const Shape& s) -> Inputs {
                 return {random_normal(rng, s.batch * s.rows, s.inner), random_normal(rng, s.batch * s.cols, s.inner)};
               },
               [](Tape&, V x, const Shape& s) { return batched_scores(x[0], x[1], s.batch); },
               [](X x, const Shape& s) { return ref::batched_scores(x[0], x[1], s.batch); },
               [](const Shape& s) -> Errors {
                 Errors e = batched_mismatch<S>(s, s.inner);
                 e.push_back({"feature widths differ", {of(s.batch * s.rows, s.inner), of(s.batch * s.cols, s.inner + 1)}});
                 e.push_back({"a batch of 0", {of(s.batch * s.rows, s.inner), of(s.batch * s.cols, s.inner)},
                              [](Tape&, V x, const Shape&) { return batched_scores(x[0], x[1], 0); }});
                 return e;
               }});
  t.push_back({"batched_scores_scaled",  // the scale folded into the products (attention's fixed scales)
               [](Rng& rng, const Shape& s) -> Inputs {
                 return {random_normal(rng, s.batch * s.rows, s.inner), random_normal(rng, s.batch * s.cols, s.inner)};
               },
               [](Tape&, V x, const Shape& s) { return batched_scores(x[0], x[1], s.batch, 0.37); },
               [](X x, const Shape& s) { return ref::batched_scores(x[0], x[1], s.batch, 0.37); }});
  t.push_back({"batched_weighted_sum",
               [](Rng& rng, const Shape& s) -> Inputs {
                 return {random_normal(rng, s.batch * s.rows, s.cols), random_normal(rng, s.batch * s.cols, s.inner)};
               },
               [](Tape&, V x, const Shape& s) { return batched_weighted_sum(x[0], x[1], s.batch); },
               [](X x, const Shape& s) { return ref::batched_weighted_sum(x[0], x[1], s.batch); },
               [](const Shape& s) -> Errors {
                 Errors e = batched_mismatch<S>(s, s.cols);
                 e.push_back({"weights have one more column than each block has value rows",
                              {of(s.batch * s.rows, s.cols + 1), of(s.batch * s.cols, s.inner)}});
                 return e;
               }});
  // Heads: `batch` + 1 heads (at least 2, so that blocks really move) of width inner.
  t.push_back({"split_heads",
               [](Rng& rng, const Shape& s) -> Inputs { return {random_normal(rng, s.rows, (s.batch + 1) * s.inner)}; },
               [](Tape&, V x, const Shape& s) { return split_heads(x[0], s.batch + 1); },
               [](X x, const Shape& s) { return ref::split_heads(x[0], s.batch + 1); },
               [](const Shape& s) -> Errors {
                 return {{"columns that do not split into the heads", {of(s.rows, (s.batch + 1) * s.inner + 1)}}};
               }});
  t.push_back({"merge_heads",
               [](Rng& rng, const Shape& s) -> Inputs { return {random_normal(rng, (s.batch + 1) * s.rows, s.inner)}; },
               [](Tape&, V x, const Shape& s) { return merge_heads(x[0], s.batch + 1); },
               [](X x, const Shape& s) { return ref::merge_heads(x[0], s.batch + 1); },
               [](const Shape& s) -> Errors {
                 return {{"rows that do not split into the heads", {of((s.batch + 1) * s.rows + 1, s.inner)}}};
               }});
  // Fused attention: B blocks of nq = rows queries and nk = cols keys of width d = inner, and values of a fourth
  // width dv = rows + cols + inner (larger than the other three, so all four differ at every table shape).
  t.push_back({"attention", attention_inputs,
               [](Tape&, V x, const Shape& s) { return attention(x[0], x[1], x[2], s.batch, 0.37); },
               [](X x, const Shape& s) { return ref::attention(x[0], x[1], x[2], s.batch, 0.37, false); },
               attention_mismatch<S>});
  t.push_back({"attention_causal", attention_inputs,
               [](Tape&, V x, const Shape& s) { return attention(x[0], x[1], x[2], s.batch, 0.37, AttentionMask::Causal); },
               [](X x, const Shape& s) { return ref::attention(x[0], x[1], x[2], s.batch, 0.37, true); }, attention_mismatch<S>});
  t.push_back({"attention_learned_scale_causal",  // the scale a 1×1 input, as exp θ in the learned-scale modes
               [](Rng& rng, const Shape& s) -> Inputs {
                 Inputs x = attention_inputs(rng, s);
                 x.push_back(uniform(rng, 1, 1, 0.3, 1.2));
                 return x;
               },
               [](Tape&, V x, const Shape& s) { return attention(x[0], x[1], x[2], s.batch, x[3], AttentionMask::Causal); },
               [](X x, const Shape& s) { return ref::attention(x[0], x[1], x[2], s.batch, x[3](0, 0), true); },
               [](const Shape& s) -> Errors {
                 return {{"the scale is 1x2, not 1x1",
                          {of(s.batch * s.rows, s.inner), of(s.batch * s.cols, s.inner), of(s.batch * s.cols, value_width(s)), of(1, 2)}}};
               }});
  // Embedding lookup: a cols × inner table, batch·rows + 1 ids with repeats.
  t.push_back({"gather_rows",
               [](Rng& rng, const Shape& s) -> Inputs { return {random_normal(rng, s.cols, s.inner)}; },
               [](Tape&, V x, const Shape& s) { return gather_rows(x[0], gather_ids(gather_count(s), x[0].rows())); },
               [](X x, const Shape& s) { return ref::gather_rows(x[0], gather_ids(gather_count(s), x[0].rows())); },
               [](const Shape& s) -> Errors {
                 return {{"an id equal to the table's row count", {of(s.cols, s.inner)},
                          [](Tape&, V x, const Shape&) {
                            thread_local std::vector<int> ids;
                            ids.assign(3, 0);
                            ids[1] = static_cast<int>(x[0].rows());
                            return gather_rows(x[0], ids);
                          }},
                         {"a negative id", {of(s.cols, s.inner)},
                          [](Tape&, V x, const Shape&) {
                            thread_local std::vector<int> ids;
                            ids.assign(3, 0);
                            ids[2] = -1;
                            return gather_rows(x[0], ids);
                          }},
                         {"no ids", {of(s.cols, s.inner)},
                          [](Tape&, V x, const Shape&) {
                            thread_local std::vector<int> ids;
                            ids.clear();
                            return gather_rows(x[0], ids);
                          }}};
               }});
  return t;
}

}  // namespace

template <class S>
const std::vector<OpEntryOf<S>>& op_table() {
  static const std::vector<OpEntryOf<S>> table = make_table<S>();
  return table;
}
template const std::vector<OpEntryOf<double>>& op_table<double>();
template const std::vector<OpEntryOf<float>>& op_table<float>();

Shape default_shape() { return Shape{3, 5, 4, 2}; }

Shape random_shape(Rng& rng) {
  std::vector<Eigen::Index> sizes = {2, 3, 4, 5, 6, 7};
  std::shuffle(sizes.begin(), sizes.end(), rng);
  std::uniform_int_distribution<Eigen::Index> batch(1, 3);
  return Shape{sizes[0], sizes[1], sizes[2], batch(rng)};
}

}  // namespace ad
