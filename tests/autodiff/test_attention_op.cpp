// Fused attention (autodiff/attention_op.cpp) at shapes where blocks have several tiles of query rows, which
// the op table's small shapes (one tile per block) do not reach: its value, every input's gradient and the
// tiles it keeps for the metrics (S, A, ∂L/∂S) match the unfused chain, which the op table gradient-checks;
// a team of 2 or 3 gives the same bits as one thread, in double and in float; the float op follows the
// double one within float's rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"
#include "autodiff/workers.hpp"

namespace {

using ad::Matrix;

struct Case {
  const char* name;
  Eigen::Index batch, nq, nk, d, dv;
  bool causal, learned;
};

// nk large enough that a tile holds fewer rows than a block (checked below), nq not a multiple of the tile,
// nq ≠ nk (cross-attention) both ways, and a causal block whose tiles each see more keys than the last.
const Case kCases[] = {
    {"plain", 3, 150, 700, 5, 6, false, false},
    {"causal", 2, 170, 700, 6, 4, true, false},
    {"causal_more_queries_than_keys", 2, 730, 690, 4, 3, true, false},
    {"learned_scale_causal", 2, 130, 800, 3, 5, true, true},
};

// Everything one evaluation gives: the output, every input's gradient, and S, A, ∂L/∂S (from the fused op's
// tiles, or from the unfused chain's nodes).
struct Result {
  std::vector<Matrix> matrices;
  std::vector<std::string> names;
};

template <class S>
Result evaluate(const Case& c, bool fused, ad::Workers* workers, uint64_t seed = 7) {
  using M = ad::MatrixOf<S>;
  ad::Rng rng(seed);
  const M q = ad::random_normal(rng, c.batch * c.nq, c.d).template cast<S>();
  const M k = ad::random_normal(rng, c.batch * c.nk, c.d).template cast<S>();
  const M v = ad::random_normal(rng, c.batch * c.nk, c.dv).template cast<S>();
  const M theta = M::Constant(1, 1, S(0.8));
  const M seed_grad = ad::random_normal(rng, c.batch * c.nq, c.dv).template cast<S>();
  ad::BoolMatrix hidden(c.batch * c.nq, c.nk);
  for (Eigen::Index r = 0; r < hidden.rows(); ++r)
    for (Eigen::Index j = 0; j < c.nk; ++j) hidden(r, j) = c.causal && j > r % c.nq;
  const double fixed = 1.0 / std::sqrt(static_cast<double>(c.d));
  ad::TapeOf<S> tape;
  tape.set_workers(workers);
  const ad::VarOf<S> vq = tape.constant(q, true), vk = tape.constant(k, true), vv = tape.constant(v, true);
  const ad::VarOf<S> vs = tape.constant(theta, true);
  const auto mask = c.causal ? ad::AttentionMask::Causal : ad::AttentionMask::None;
  Result r;
  ad::VarOf<S> out, logits, weights;
  if (fused) {
    out = c.learned ? ad::attention(vq, vk, vv, c.batch, vs, mask) : ad::attention(vq, vk, vv, c.batch, fixed, mask);
  } else {
    logits = c.learned ? ad::scale_by(ad::batched_scores(vq, vk, c.batch), vs) : ad::batched_scores(vq, vk, c.batch, fixed);
    weights = ad::softmax_rows(c.causal ? ad::mask(logits, hidden) : logits);
    out = ad::batched_weighted_sum(weights, vv, c.batch);
  }
  tape.backward(out, seed_grad);
  auto add = [&](const char* name, const M& m) {
    r.names.push_back(name);
    r.matrices.push_back(m.template cast<double>());
  };
  add("output", out.value());
  add("dQ", vq.grad());
  add("dK", vk.grad());
  add("dV", vv.grad());
  if (c.learned) add("d scale", vs.grad());
  if (fused) {
    const ad::AttentionState<S>& tiles = ad::attention_tiles(out);
    EXPECT_TRUE(tiles.has_logit_grad);
    add("S", tiles.logits);
    add("A", tiles.weights);
    add("dL/dS", tiles.logit_grad);
  } else {
    add("S", logits.value());
    add("A", weights.value());
    add("dL/dS", logits.grad());
  }
  return r;
}

// |a − e| ≤ tolerance·max(1, max |e|) entry by entry.
void expect_close(const Result& actual, const Result& expected, double tolerance, const std::string& what) {
  ASSERT_EQ(actual.matrices.size(), expected.matrices.size()) << what;
  for (size_t i = 0; i < expected.matrices.size(); ++i) {
    const Matrix& a = actual.matrices[i];
    const Matrix& e = expected.matrices[i];
    ASSERT_EQ(a.rows(), e.rows()) << what << " " << expected.names[i];
    ASSERT_EQ(a.cols(), e.cols()) << what << " " << expected.names[i];
    const double scale = std::max(1.0, e.cwiseAbs().maxCoeff());
    Eigen::Index row = 0, col = 0;
    const double error = (a - e).cwiseAbs().maxCoeff(&row, &col);
    EXPECT_LE(error, tolerance * scale) << what << ": " << expected.names[i] << " off by " << error << " at (" << row << ", " << col
                                        << "), relative to " << scale;
  }
}

bool same_bits(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(double) * static_cast<size_t>(a.size())) == 0;
}

TEST(AttentionOp, CasesHaveSeveralTilesPerBlock) {
  for (const Case& c : kCases) {
    EXPECT_LT(ad::attention_tile_rows<double>(c.nk), c.nq) << c.name;
    EXPECT_NE(c.nq % ad::attention_tile_rows<double>(c.nk), 0) << c.name << ": the last tile should be partial";
  }
}

// The unfused chain sums in another order (whole-block products and adjoints accumulated by the tape), so the
// two agree to a few units of double rounding times the sums' lengths (≤ 800 terms), not bit for bit.
TEST(AttentionOp, MatchesTheUnfusedChainWithItsTilesForTheMetrics) {
  for (const Case& c : kCases) {
    expect_close(evaluate<double>(c, true, nullptr), evaluate<double>(c, false, nullptr), 1e-12, c.name);
  }
}

TEST(AttentionOp, IsBitwiseTheSameForAnyTeamInDoubleAndFloat) {
  for (const Case& c : kCases) {
    const Result alone = evaluate<double>(c, true, nullptr);
    const Result alone_f = evaluate<float>(c, true, nullptr);
    for (int threads : {2, 3}) {
      ad::Workers workers(threads);
      workers.set_min_work(0);
      const Result team = evaluate<double>(c, true, &workers);
      const Result team_f = evaluate<float>(c, true, &workers);
      for (size_t i = 0; i < alone.matrices.size(); ++i) {
        EXPECT_TRUE(same_bits(team.matrices[i], alone.matrices[i])) << c.name << " " << alone.names[i] << ", " << threads << " threads";
        EXPECT_TRUE(same_bits(team_f.matrices[i], alone_f.matrices[i])) << c.name << " float " << alone.names[i] << ", " << threads << " threads";
      }
    }
  }
}

// Float against double on the same inputs (rounded to float): sums of up to 800 terms of numbers of order 1
// lose about √800·u ≈ 30·u in a random-walk and at worst 800·u; the tile's softmax adds a few u per entry.
// 256·FLT_EPSILON (3e-5) relative to each matrix's largest entry holds with margin; a float op that lost
// precision in earnest (a wrong exp floor, a constant rounded wrong) is off by far more.
TEST(AttentionOp, FloatFollowsDoubleWithinFloatRounding) {
  for (const Case& c : kCases) {
    expect_close(evaluate<float>(c, true, nullptr), evaluate<double>(c, true, nullptr),
                 256.0 * std::numeric_limits<float>::epsilon(), std::string(c.name) + " in float");
  }
}

TEST(AttentionOp, TilesAreReadableOnlyFromAnAttentionNode) {
  ad::Rng rng(3);
  const Matrix qm = ad::random_normal(rng, 6, 4), km = ad::random_normal(rng, 10, 4), vm = ad::random_normal(rng, 10, 3);
  ad::Tape tape;
  const ad::Var z = ad::attention(tape.constant(qm, true), tape.constant(km, true), tape.constant(vm, true), 2, 0.5);
  EXPECT_FALSE(ad::attention_tiles(z).has_logit_grad) << "no backward has run yet";
  tape.backward(ad::sum(z));
  EXPECT_TRUE(ad::attention_tiles(z).has_logit_grad);
  // The same graph again: the node's state (and last step's ∂L/∂S) is reused, but not yet this step's.
  tape.reset();
  const ad::Var z2 = ad::attention(tape.constant(qm, true), tape.constant(km, true), tape.constant(vm, true), 2, 0.5);
  EXPECT_FALSE(ad::attention_tiles(z2).has_logit_grad) << "last evaluation's gradient passed for this one's";
  EXPECT_THROW(ad::attention_tiles(tape.constant(ad::Matrix::Ones(2, 2))), std::invalid_argument);
  EXPECT_THROW(ad::attention_tiles(ad::Var()), std::invalid_argument);
}

}  // namespace
