// Eigen's own matrix product against Eigen over a BLAS (EIGEN_USE_BLAS: OpenBLAS or BLIS), at the products
// of a training step at the study's widths, in float and double, on one thread. Prints GFLOP/s (median of
// rounds) and whether splitting the product by row ranges that start at multiples of 48 (what `--threads N`
// does, autodiff/workers.hpp) gives the same bits as the whole product.
//
// A standalone measurement, not part of the build. Build each backend and run them one after the other:
//   g++ -std=c++20 -O3 -march=native -DNDEBUG -I/usr/include/eigen3 experiments/perf/gemm_backends.cpp -o /tmp/gemm_eigen
//   g++ -std=c++20 -O3 -march=native -DNDEBUG -I/usr/include/eigen3 -DEIGEN_USE_BLAS -DGEMM_BACKEND='"OpenBLAS"' \
//       experiments/perf/gemm_backends.cpp -o /tmp/gemm_openblas \
//       /usr/lib/x86_64-linux-gnu/openblas-serial/libopenblas.so.0                             (libopenblas-serial-dev)
//   g++ -std=c++20 -O3 -march=native -DNDEBUG -I/usr/include/eigen3 -DEIGEN_USE_BLAS -DGEMM_BACKEND='"BLIS"' \
//       experiments/perf/gemm_backends.cpp -o /tmp/gemm_blis /usr/lib/x86_64-linux-gnu/blis-serial/libblis.so.4
//                                                                                              (libblis-serial-dev)
//   OPENBLAS_NUM_THREADS=1 BLIS_NUM_THREADS=1 /tmp/gemm_eigen 7     (the argument: rounds, default 7)
#include <Eigen/Dense>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

namespace {

// Which library the binary was linked with: -DGEMM_BACKEND='"OpenBLAS"' (a label only).
#ifndef GEMM_BACKEND
#ifdef EIGEN_USE_BLAS
#define GEMM_BACKEND "Eigen+BLAS"
#else
#define GEMM_BACKEND "Eigen"
#endif
#endif
constexpr const char* kBackend = GEMM_BACKEND;

struct Product {
  const char* what;
  Eigen::Index rows, inner, cols;
};

// B·n × d_model × d_k products of a step (projection X·W, its weight gradient Xᵀ·G) and one block of the
// attention scores (n × d_k × n), at the shapes.
constexpr Product kProducts[] = {
    {"4x512x512x64  X.W_Q", 2048, 512, 64},   {"4x512x512x64  X^T.G", 512, 2048, 64},
    {"4x512x512x64  Q_b.K_b^T", 512, 64, 512}, {"8x256x256x64  X.W_Q", 2048, 256, 64},
    {"8x256x256x64  X^T.G", 256, 2048, 64},    {"8x256x256x64  Q_b.K_b^T", 256, 64, 256},
    {"16x128x512x512 X.W_Q", 2048, 512, 512},  {"16x128x512x512 X^T.G", 512, 2048, 512},
    {"16x128x512x512 Q_b.K_b^T", 128, 512, 128},
};

template <class S>
using MatrixOf = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;

template <class S>
MatrixOf<S> random_matrix(std::mt19937_64& rng, Eigen::Index rows, Eigen::Index cols) {
  std::normal_distribution<double> normal;
  MatrixOf<S> m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m(i) = static_cast<S>(normal(rng));
  return m;
}

// The product computed as row ranges starting at multiples of 48, as teams of 2 and 3 split it.
template <class S>
bool split_gives_the_same_bits(const MatrixOf<S>& a, const MatrixOf<S>& b, const MatrixOf<S>& whole) {
  MatrixOf<S> split(a.rows(), b.cols());
  const Eigen::Index units = a.rows() / 48;
  for (int parts : {2, 3}) {
    for (int part = 0; part < parts; ++part) {
      const Eigen::Index begin = units * part / parts * 48;
      const Eigen::Index end = part == parts - 1 ? a.rows() : units * (part + 1) / parts * 48;
      split.middleRows(begin, end - begin).noalias() = a.middleRows(begin, end - begin) * b;
    }
    if (std::memcmp(split.data(), whole.data(), sizeof(S) * static_cast<size_t>(whole.size())) != 0) return false;
  }
  return true;
}

template <class S>
void measure(const Product& p, int rounds) {
  std::mt19937_64 rng(1);
  const MatrixOf<S> a = random_matrix<S>(rng, p.rows, p.inner), b = random_matrix<S>(rng, p.inner, p.cols);
  MatrixOf<S> c(p.rows, p.cols);
  const double flops = 2.0 * static_cast<double>(p.rows) * static_cast<double>(p.inner) * static_cast<double>(p.cols);
  const int reps = std::max(1, static_cast<int>(2e9 / flops / 10));  // about 0.1 s a round at ~20 GFLOP/s
  std::vector<double> rates;
  c.noalias() = a * b;  // warm-up
  for (int r = 0; r < rounds; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) c.noalias() = a * b;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rates.push_back(flops * reps / seconds / 1e9);
  }
  std::sort(rates.begin(), rates.end());
  // The best round is the least disturbed by other processes on a shared machine; the median is printed too.
  std::printf("%-9s %-6s %-26s %5ld x %4ld x %4ld  best %6.1f  median %6.1f GFLOP/s  split same bits: %s\n", kBackend,
              sizeof(S) == 4 ? "float" : "double", p.what, static_cast<long>(p.rows), static_cast<long>(p.inner),
              static_cast<long>(p.cols), rates.back(), rates[rates.size() / 2],
              split_gives_the_same_bits(a, b, c) ? "yes" : "NO");
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 7;
  for (const Product& p : kProducts) {
    measure<float>(p, rounds);
    measure<double>(p, rounds);
  }
}
