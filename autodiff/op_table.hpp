#pragma once
// One table lists every op with a generator of valid random inputs. The tests, `sandbox gradcheck` and the
// property tests iterate over it, so an op is gradient-checked the moment it is listed here.
//
// Input shapes are non-square and pairwise distinct, so a transposed formula cannot pass by accident, and
// inputs are kept away from kinks (relu at 0) by construction, never by loosening the tolerance.
#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/gradcheck.hpp"
#include "autodiff/random.hpp"

namespace ad {

// The row and column counts an entry's generator may vary. A generator given `Shape` draws inputs of
// those sizes; the table's own fixed shapes come from default_shape().
struct Shape {
  Eigen::Index rows = 3, cols = 5, inner = 4, batch = 2;
};

struct OpEntry {
  std::string name;
  std::vector<Matrix> (*inputs)(Rng& rng, const Shape& shape);
  Var (*build)(Tape& tape, const std::vector<Var>& inputs, const Shape& shape);
  BuildFn bind(const Shape& shape) const;  // the build with its shape fixed, for gradcheck()
};

const std::vector<OpEntry>& op_table();
Shape default_shape();
// Random shapes for the property tests: rows, cols and inner are three distinct sizes from 2..7 and batch is
// in 1..3, so the shapes stay non-square and a transposed formula cannot pass.
Shape random_shape(Rng& rng);

}  // namespace ad
