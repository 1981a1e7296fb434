#pragma once
// One table lists every op, in the manner of PyTorch's OpInfo: a generator of valid random inputs, the op's
// call, a reference forward (its value from the definition, autodiff/op_references.hpp) and error inputs
// (bad shapes it must reject). The tests, `sandbox gradcheck` and the property tests iterate over it, so an op
// is gradient-checked, value-checked and error-checked the moment it is listed here; an entry without a
// reference fails test_ops_gradcheck.cpp.
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

using OpInputs = std::vector<Matrix>;
using OpBuild = Var (*)(Tape& tape, const std::vector<Var>& inputs, const Shape& shape);

// Inputs that an op must reject: building on them throws std::invalid_argument and records no node.
struct OpErrorInput {
  std::string what;         // what is wrong with them, for the failure message
  OpInputs inputs;
  OpBuild build = nullptr;  // how the op is called on them; nullptr: the entry's own build
};

struct OpEntry {
  std::string name;
  OpInputs (*inputs)(Rng& rng, const Shape& shape);
  OpBuild build;
  // build()'s value computed independently from the definition; nullptr fails the reference test.
  Matrix (*reference)(const OpInputs& inputs, const Shape& shape) = nullptr;
  // Bad inputs for inputs of `shape`; nullptr when the op has nothing to reject (elementwise ops).
  std::vector<OpErrorInput> (*error_inputs)(const Shape& shape) = nullptr;

  BuildFn bind(const Shape& shape) const;  // the build with its shape fixed, for gradcheck()
};

const std::vector<OpEntry>& op_table();
Shape default_shape();
// Random shapes for the property tests: rows, cols and inner are three distinct sizes from 2..7 and batch is
// in 1..3, so the shapes stay non-square and a transposed formula cannot pass.
Shape random_shape(Rng& rng);

}  // namespace ad
