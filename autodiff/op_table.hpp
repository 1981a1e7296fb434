#pragma once
// One table lists every op, in the manner of PyTorch's OpInfo: a generator of valid random inputs, the op's
// call, a reference forward (its value from the definition, autodiff/op_references.hpp) and error inputs
// (bad shapes it must reject). The tests, `sandbox gradcheck` and the property tests iterate over it, so an op
// is gradient-checked, value-checked and error-checked the moment it is listed here; an entry without a
// reference fails test_ops_gradcheck.cpp.
//
// Input shapes are non-square and pairwise distinct, so a transposed formula cannot pass by accident, and
// inputs are kept away from kinks (relu at 0) by construction, never by loosening the tolerance.
//
// The table exists for both precisions of the engine (op_table<float>() builds every op on a TapeF); inputs and
// references are double in both, so the float32 test runs each op on its inputs rounded to float and compares
// with the double result. Gradient checks use the double table only.
#include <concepts>
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

using OpInputs = std::vector<Matrix>;  // double in both tables
template <class S>
using OpBuildOf = VarOf<S> (*)(TapeOf<S>& tape, const std::vector<VarOf<S>>& inputs, const Shape& shape);

// Inputs that an op must reject: building on them throws std::invalid_argument and records no node.
template <class S>
struct OpErrorInputOf {
  std::string what;              // what is wrong with them, for the failure message
  OpInputs inputs;
  OpBuildOf<S> build = nullptr;  // how the op is called on them; nullptr: the entry's own build
};

template <class S>
struct OpEntryOf {
  std::string name;
  OpInputs (*inputs)(Rng& rng, const Shape& shape);
  OpBuildOf<S> build;
  // build()'s value computed independently from the definition; nullptr fails the reference test.
  Matrix (*reference)(const OpInputs& inputs, const Shape& shape) = nullptr;
  // Bad inputs for inputs of `shape`; nullptr when the op has nothing to reject (elementwise ops).
  std::vector<OpErrorInputOf<S>> (*error_inputs)(const Shape& shape) = nullptr;

  // The build with its shape fixed, for gradcheck() (double only: gradients are checked in double).
  BuildFn bind(const Shape& shape) const
    requires std::same_as<S, double>
  {
    return [build = build, shape](Tape& tape, const std::vector<Var>& inputs) { return build(tape, inputs, shape); };
  }
};

using OpBuild = OpBuildOf<double>;
using OpErrorInput = OpErrorInputOf<double>;
using OpEntry = OpEntryOf<double>;

// Every op, built on a tape of scalar S (double unless asked); the same entries, in the same order, for both.
template <class S = double>
const std::vector<OpEntryOf<S>>& op_table();
Shape default_shape();
// Random shapes for the property tests: rows, cols and inner are three distinct sizes from 2..7 and batch is
// in 1..3, so the shapes stay non-square and a transposed formula cannot pass.
Shape random_shape(Rng& rng);

}  // namespace ad
