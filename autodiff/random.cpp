#include "autodiff/random.hpp"

namespace ad {

Eigen::MatrixXd random_normal(Rng& rng, Eigen::Index rows, Eigen::Index cols, double std) {
  std::normal_distribution<double> normal(0.0, std);
  Eigen::MatrixXd m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m(i) = normal(rng);
  return m;
}

}  // namespace ad
