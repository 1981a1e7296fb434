// The fused attention op (ad::attention) against the unfused chain it replaces
//   batched_scores → [mask] → softmax_rows → batched_weighted_sum
// forward + backward on a warmed-up tape, one thread, in float and double, with and without the causal mask,
// at B sequences × n positions × d (= d_k = d_v) per block. Prints the median time per call over interleaved
// rounds (fused and unfused alternate, so a change in the machine's load hits both) and their ratio.
//
// A standalone measurement, not part of the build (like gemm_backends.cpp):
//   g++ -std=c++20 -O3 -march=native -DNDEBUG -I. -I/usr/include/eigen3 experiments/perf/attention_fused.cpp \
//       autodiff/attention_op.cpp autodiff/ops.cpp autodiff/tape.cpp autodiff/workers.cpp autodiff/random.cpp \
//       -o /tmp/attention_fused -lpthread
//   /tmp/attention_fused 7        (the argument: rounds, default 5)
// The flags are the project's Release flags (CMakeLists.txt: -O3 -march=native).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"

namespace {

struct Shape {
  Eigen::Index batch, n, d;
};

template <class S>
struct Bench {
  ad::MatrixOf<S> q, k, v, seed;
  ad::BoolMatrix hidden;
  ad::TapeOf<S> tape;
  Shape shape;
  bool causal;

  Bench(Shape s, bool causal_mask) : shape(s), causal(causal_mask) {
    ad::Rng rng(1);
    q = ad::random_normal(rng, s.batch * s.n, s.d).template cast<S>();
    k = ad::random_normal(rng, s.batch * s.n, s.d).template cast<S>();
    v = ad::random_normal(rng, s.batch * s.n, s.d).template cast<S>();
    seed = ad::random_normal(rng, s.batch * s.n, s.d).template cast<S>();
    hidden.resize(s.batch * s.n, s.n);
    for (Eigen::Index r = 0; r < hidden.rows(); ++r)
      for (Eigen::Index j = 0; j < s.n; ++j) hidden(r, j) = j > r % s.n;
  }

  void step(bool fused) {
    tape.reset();
    const ad::VarOf<S> vq = tape.constant(q, true), vk = tape.constant(k, true), vv = tape.constant(v, true);
    const double scale = 1.0 / std::sqrt(static_cast<double>(shape.d));
    ad::VarOf<S> z;
    if (fused) {
      z = ad::attention(vq, vk, vv, shape.batch, scale, causal ? ad::AttentionMask::Causal : ad::AttentionMask::None);
    } else {
      const ad::VarOf<S> logits = ad::batched_scores(vq, vk, shape.batch, scale);
      z = ad::batched_weighted_sum(ad::softmax_rows(causal ? ad::mask(logits, hidden) : logits), vv, shape.batch);
    }
    tape.backward(z, seed);
  }

  // Seconds per step over `reps` steps.
  double time(bool fused, int reps) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) step(fused);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / reps;
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <class S>
void run(Shape s, bool causal, int rounds, const char* precision) {
  Bench<S> bench(s, causal);
  bench.step(true);
  bench.step(false);
  bench.step(true);
  bench.step(false);
  // About 0.1 s per measurement.
  const double once = bench.time(false, 1);
  const int reps = std::max(1, static_cast<int>(0.1 / std::max(once, 1e-6)));
  std::vector<double> fused, unfused;
  for (int r = 0; r < rounds; ++r) {
    unfused.push_back(bench.time(false, reps));
    fused.push_back(bench.time(true, reps));
  }
  const double f = median(fused), u = median(unfused);
  std::printf("%-7s %3ld x %4ld x %3ld  %-6s  unfused %9.3f ms  fused %9.3f ms  fused/unfused %.2f\n", precision,
              static_cast<long>(s.batch), static_cast<long>(s.n), static_cast<long>(s.d), causal ? "causal" : "full",
              1e3 * u, 1e3 * f, f / u);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
  const Shape shapes[] = {{4, 512, 64}, {8, 256, 64}, {32, 64, 128}, {16, 128, 512}, {2, 1024, 64}};
  std::printf("forward + backward per call, one thread, median of %d interleaved rounds\n", rounds);
  for (const Shape& s : shapes)
    for (bool causal : {false, true}) {
      run<float>(s, causal, rounds, "float32");
      run<double>(s, causal, rounds, "float64");
    }
}
