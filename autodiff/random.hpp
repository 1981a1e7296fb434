#pragma once
// The random numbers of the sandbox: one generator type and Gaussian matrices. Models draw their initial
// weights and tasks their data from it; the op table (a test fixture) draws its inputs from it too.
#include <Eigen/Core>

#include <random>

namespace ad {

using Rng = std::mt19937_64;

// A rows×cols matrix of independent N(0, std²) entries, filled in column-major order.
Eigen::MatrixXd random_normal(Rng& rng, Eigen::Index rows, Eigen::Index cols, double std = 1.0);

}  // namespace ad
