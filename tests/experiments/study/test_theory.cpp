// Tests of `sandbox theory`: the Monte Carlo (same code path as the command, with max_dk = 256), its
// building blocks, the HDF5 file it writes and its refusal of bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "experiments/src/io/h5_store.hpp"
#include "experiments/src/study/theory.hpp"
#include "tests/support/test_support.hpp"
#include "experiments/src/user_error.hpp"

namespace {

namespace fs = std::filesystem;
using namespace sbx::study;

TheoryConfig small_config() {
  TheoryConfig c;
  c.max_dk = 256;  // d_k = 1 .. 256; samples, keys and rows keep the command's defaults
  c.threads = 2;
  return c;
}

// One run shared by the tests that only read it.
const TheoryResult& shared_result() {
  static const TheoryResult result = run_theory(small_config());
  return result;
}

size_t index_of(const TheoryResult& r, std::int64_t d_k) {
  for (size_t i = 0; i < r.d_k.size(); ++i)
    if (r.d_k[i] == d_k) return i;
  ADD_FAILURE() << "d_k " << d_k << " not in the result";
  return 0;
}

const ScaleStats& stats(const TheoryResult& r, ScaleMode mode) {
  for (const auto& s : r.scales)
    if (s.mode == mode) return s;
  throw std::logic_error("scale missing");
}

using sbx::test::read_bytes;

class TheoryFiles : public ::testing::Test {
 protected:
  std::vector<std::string> listing() const { return scratch_.listing(); }
  // Runs the sandbox binary; returns its exit status (its stderr is in dir_/stderr.txt).
  int sandbox(const std::string& arguments) const { return sbx::test::run_sandbox(arguments, dir_).status; }
  sbx::test::TempDir scratch_{"sbx_theory"};
  const fs::path& dir_ = scratch_.dir();
};

// ---- the statistics --------------------------------------------------------------------------------------

TEST(Theory, DkRunsOverPowersOfTwo) {
  const auto& r = shared_result();
  ASSERT_EQ(r.d_k, (std::vector<std::int64_t>{1, 2, 4, 8, 16, 32, 64, 128, 256}));
  EXPECT_EQ(r.var_qk.size(), r.d_k.size());
  EXPECT_EQ(r.var_qk_scaled.size(), r.d_k.size());
  for (const auto& s : r.scales) EXPECT_EQ(s.logit_grad_median.size(), r.d_k.size());
}

TEST(Theory, VarianceOfDotProductIsDk) {
  const auto& r = shared_result();
  for (size_t i = 0; i < r.d_k.size(); ++i) {
    const double d = static_cast<double>(r.d_k[i]);
    EXPECT_NEAR(r.var_qk[i] / d, 1.0, 0.05) << "d_k = " << d << ", Var(q.k) = " << r.var_qk[i];
  }
}

TEST(Theory, VarianceOfScaledDotProductIsOne) {
  const auto& r = shared_result();
  for (size_t i = 0; i < r.d_k.size(); ++i) EXPECT_NEAR(r.var_qk_scaled[i], 1.0, 0.05) << "d_k = " << r.d_k[i];
}

TEST(Theory, SampleVarianceUsesTheSampleMeanAndDividesByMMinusOne) {
  EXPECT_DOUBLE_EQ(sample_variance({1, 2, 3, 4}), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(sample_variance({101, 102, 103, 104}), 5.0 / 3.0);  // a shift changes nothing
  EXPECT_DOUBLE_EQ(sample_variance({-7, -7}), 0.0);
  EXPECT_THROW(sample_variance({1.0}), std::invalid_argument);
}

TEST(Theory, MedianOfOddAndEvenCounts) {
  EXPECT_DOUBLE_EQ(median({5, 1, 3}), 3.0);
  EXPECT_DOUBLE_EQ(median({4, 1, 3, 2}), 2.5);
}

TEST(Theory, UnscaledSoftmaxSaturatesAsDkGrows) {
  const auto& r = shared_result();
  const auto& none = stats(r, ScaleMode::None);
  const size_t one = index_of(r, 1), big = index_of(r, 256);
  EXPECT_GT(none.saturated_fraction[big], none.saturated_fraction[one] + 0.2);
  EXPECT_GT(none.max_weight_median[big], 0.95);
  // and the gradient reaching the logits collapses
  EXPECT_LT(none.logit_grad_median[big], 0.1 * none.logit_grad_median[one]);
  EXPECT_LT(none.jacobian_norm_median[big], 0.1 * none.jacobian_norm_median[one]);
}

TEST(Theory, SqrtScalingKeepsSaturationAndGradientFlat) {
  const auto& r = shared_result();
  const auto& sq = stats(r, ScaleMode::Sqrt);
  for (size_t i = 0; i < r.d_k.size(); ++i) {
    EXPECT_NEAR(sq.saturated_fraction[i], sq.saturated_fraction[0], 0.02) << "d_k = " << r.d_k[i];
    EXPECT_NEAR(sq.logit_grad_median[i] / sq.logit_grad_median[0], 1.0, 0.25) << "d_k = " << r.d_k[i];
    EXPECT_NEAR(sq.max_weight_median[i], 0.2, 0.1) << "d_k = " << r.d_k[i];
  }
}

TEST(Theory, LinearScalingFlattensTheWeightsTowardUniform) {
  const auto& r = shared_result();
  const auto& lin = stats(r, ScaleMode::Linear);
  const double uniform = 1.0 / r.config.keys;
  EXPECT_LT(lin.max_weight_median[index_of(r, 256)], 1.2 * uniform);
  EXPECT_GT(lin.entropy_mean[index_of(r, 256)], 0.99 * std::log(static_cast<double>(r.config.keys)));
}

TEST(Theory, AllScalesAgreeAtDkOne) {  // s = 1, 1/√1 and 1/1 are the same scale: same rows, same g
  const auto& r = shared_result();
  const auto& a = stats(r, ScaleMode::None);
  for (ScaleMode m : {ScaleMode::Sqrt, ScaleMode::Linear}) {
    const auto& b = stats(r, m);
    EXPECT_EQ(a.max_weight_mean[0], b.max_weight_mean[0]);
    EXPECT_EQ(a.logit_grad_median[0], b.logit_grad_median[0]);
    EXPECT_EQ(a.entropy_mean[0], b.entropy_mean[0]);
  }
}

TEST(Theory, ResultsDoNotDependOnTheThreadCount) {
  TheoryConfig c;
  c.max_dk = 64;
  c.samples = 5000;
  c.rows = 300;
  c.threads = 1;
  const TheoryResult one = run_theory(c);
  c.threads = 3;
  const TheoryResult three = run_theory(c);
  EXPECT_EQ(one.var_qk, three.var_qk);
  EXPECT_EQ(one.scales[0].logit_grad_median, three.scales[0].logit_grad_median);
  c.seed = 2;
  EXPECT_NE(run_theory(c).var_qk, one.var_qk);  // and the seed does matter
}

TEST(Theory, NormalGeneratorHasStandardMomentsAndTails) {
  NormalRng rng(12345);
  const int n = 2'000'000;
  double sum = 0, sum2 = 0, sum4 = 0;
  int beyond3 = 0, beyond_tail = 0;
  for (int i = 0; i < n; ++i) {
    const double x = rng();
    sum += x;
    sum2 += x * x;
    sum4 += x * x * x * x;
    beyond3 += std::abs(x) > 3.0;
    beyond_tail += std::abs(x) > 3.8;  // the ziggurat's tail starts at 3.654
  }
  EXPECT_NEAR(sum / n, 0.0, 0.005);
  EXPECT_NEAR(sum2 / n, 1.0, 0.005);
  EXPECT_NEAR(sum4 / n, 3.0, 0.05);
  EXPECT_NEAR(beyond3 / static_cast<double>(n), 0.0026998, 0.0026998 * 0.06);  // 2·(1 − Φ(3))
  EXPECT_NEAR(beyond_tail / static_cast<double>(n), 1.4470e-4, 1.4470e-4 * 0.2);  // 2·(1 − Φ(3.8))
}

// ---- the engine's backward pass against the closed form ---------------------------------------------------

TEST(Theory, EngineLogitGradientMatchesClosedFormJacobianTimesG) {
  NormalRng rng(7);
  const int rows = 6, n = 16;
  Eigen::MatrixXd scores(rows, n), g(rows, n);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < n; ++j) {
      scores(r, j) = rng() * (1 + 4 * r);  // from flat rows to nearly saturated ones
      g(r, j) = rng();
    }
  for (double s : {1.0, 0.5, 0.125}) {
    const SoftmaxBackward b = softmax_backward_engine(scores, s, g);
    for (int r = 0; r < rows; ++r) {
      const Eigen::RowVectorXd p = b.probabilities.row(r);
      EXPECT_NEAR(p.sum(), 1.0, 1e-12);
      const Eigen::RowVectorXd expected = (softmax_jacobian(p) * g.row(r).transpose()).transpose();
      const double err = (b.logit_grad.row(r) - expected).norm();
      EXPECT_LE(err, 1e-14 + 1e-10 * expected.norm()) << "row " << r << " scale " << s;
      EXPECT_GT(expected.norm(), 0.0);
    }
  }
}

TEST(Theory, JacobianNormClosedFormMatchesTheExplicitMatrix) {
  NormalRng rng(3);
  for (int trial = 0; trial < 20; ++trial) {
    Eigen::RowVectorXd logits(8);
    for (int j = 0; j < 8; ++j) logits(j) = 3.0 * rng();
    Eigen::RowVectorXd p = (logits.array() - logits.maxCoeff()).exp();
    p /= p.sum();
    const double explicit_norm = softmax_jacobian(p).norm();  // Frobenius
    EXPECT_NEAR(softmax_jacobian_norm(p), explicit_norm, 1e-12 * explicit_norm);
    EXPECT_NEAR(softmax_jacobian_norm_expanded(p), explicit_norm, 1e-9 * explicit_norm);
  }
}

// ‖diag(p) − ppᵀ‖_F built entry by entry without cancellation: the diagonal p_i(1 − p_i) as p_i·Σ_{j≠i} p_j.
double reference_jacobian_norm(const Eigen::RowVectorXd& p) {
  long double total = 0;
  for (Eigen::Index i = 0; i < p.size(); ++i)
    for (Eigen::Index j = 0; j < p.size(); ++j) {
      long double entry = -static_cast<long double>(p(i)) * p(j);
      if (i == j) {
        long double rest = 0;
        for (Eigen::Index k = 0; k < p.size(); ++k)
          if (k != i) rest += p(k);
        entry = static_cast<long double>(p(i)) * rest;
      }
      total += entry * entry;
    }
  return static_cast<double>(std::sqrt(total));
}

TEST(Theory, JacobianNormStaysAccurateWhenSaturated) {
  NormalRng rng(11);
  double worst_expanded = 0.0;
  for (double spread : {10.0, 20.0, 40.0, 64.0}) {  // logits of N(0, spread²): from mild to extreme saturation
    for (int trial = 0; trial < 200; ++trial) {
      Eigen::RowVectorXd logits(16);
      for (int j = 0; j < 16; ++j) logits(j) = spread * rng();
      Eigen::RowVectorXd p = (logits.array() - logits.maxCoeff()).exp();
      p /= p.sum();
      const double reference = reference_jacobian_norm(p);
      ASSERT_GT(reference, 0.0);
      EXPECT_NEAR(softmax_jacobian_norm(p), reference, 1e-13 * reference) << "spread " << spread;
      worst_expanded = std::max(worst_expanded, std::abs(softmax_jacobian_norm_expanded(p) - reference) / reference);
    }
  }
  // The textbook expansion Σp² − 2Σp³ + (Σp²)² cancels catastrophically on these rows (it is often exactly 0):
  // why theory.cpp does not use it.
  EXPECT_GT(worst_expanded, 0.1);
}

TEST(Theory, RowSummaryOfKnownRows) {
  // Row 0: uniform over 4 keys. Rows 1, 2: p = (1 − 3ε, ε, ε, ε), whose Jacobian norm is √18·ε(1 + O(ε)).
  SoftmaxBackward b;
  b.probabilities.resize(3, 4);
  b.probabilities << 0.25, 0.25, 0.25, 0.25,  //
      1 - 3e-12, 1e-12, 1e-12, 1e-12,         //
      1 - 3e-10, 1e-10, 1e-10, 1e-10;
  b.logit_grad.resize(3, 4);
  b.logit_grad << 3, 4, 0, 0,  // norms 5, 1, 13
      1, 0, 0, 0,              //
      0, 0, 5, 12;
  const RowSummary s = summarize_rows(b);
  EXPECT_NEAR(s.max_weight_median, 1 - 3e-10, 1e-15);
  EXPECT_NEAR(s.max_weight_mean, (0.25 + 2 - 3e-12 - 3e-10) / 3, 1e-15);
  EXPECT_NEAR(s.saturated_fraction, 2.0 / 3.0, 1e-15);
  const double h_sat = [](double e) { return -(1 - 3 * e) * std::log(1 - 3 * e) - 3 * e * std::log(e); }(1e-12);
  const double h_sat2 = [](double e) { return -(1 - 3 * e) * std::log1p(-3 * e) - 3 * e * std::log(e); }(1e-10);
  EXPECT_NEAR(s.entropy_mean, (std::log(4.0) + h_sat + h_sat2) / 3, 1e-12);
  EXPECT_NEAR(s.jacobian_norm_median, std::sqrt(18.0) * 1e-10, 1e-6 * std::sqrt(18.0) * 1e-10);
  EXPECT_NEAR(s.jacobian_norm_mean, (std::sqrt(48.0) / 16 + std::sqrt(18.0) * (1e-10 + 1e-12)) / 3, 1e-12);
  EXPECT_DOUBLE_EQ(s.logit_grad_median, 5.0);
  EXPECT_DOUBLE_EQ(s.logit_grad_mean, 19.0 / 3.0);
}

// ---- the file and bad input ------------------------------------------------------------------------------

TEST_F(TheoryFiles, WrittenFileHasTheLayout) {
  const auto& r = shared_result();
  const std::string path = (dir_ / "t.h5").string();
  write_theory(path, r);
  sbx::io::H5Reader in(path);
  const std::vector<hsize_t> len = {r.d_k.size()};
  EXPECT_EQ(in.read_int_vector("/theory/d_k"), r.d_k);
  EXPECT_EQ(in.shape("/theory/var_qk"), len);
  EXPECT_EQ(in.read_vector("/theory/var_qk"), r.var_qk);
  EXPECT_EQ(in.shape("/theory/var_qk_scaled"), len);
  EXPECT_EQ(in.read_int_attr("/theory", "keys"), 16);
  EXPECT_EQ(in.read_int_attr("/theory", "samples"), r.config.samples);
  for (const char* scale : {"none", "sqrt", "linear"})
    for (const char* name : {"max_weight_mean", "max_weight_median", "entropy_mean", "saturated_fraction",
                             "jacobian_norm_mean", "jacobian_norm_median", "logit_grad_mean", "logit_grad_median"})
      EXPECT_EQ(in.shape(std::string("/theory/") + scale + "/" + name), len) << scale << "/" << name;
  EXPECT_EQ(in.read_vector("/theory/sqrt/saturated_fraction"), stats(r, ScaleMode::Sqrt).saturated_fraction);
  for (const char* attr : {"created_utc", "git_commit", "sandbox_version", "eigen_version", "hdf5_version"})
    EXPECT_FALSE(in.read_string_attr("/", attr).empty()) << attr;
  EXPECT_EQ(listing(), std::vector<std::string>{"t.h5"});  // no temporary file left behind
}

TEST_F(TheoryFiles, RewritingReplacesTheoryAndKeepsTheRest) {
  const std::string path = (dir_ / "t.h5").string();
  {
    sbx::io::H5Transaction t(path);
    sbx::io::write_vector(t.file(), "other/data", {1.0, 2.0});
    sbx::io::write_vector(t.file(), "theory/stale", {9.0});
    t.commit();
  }
  TheoryConfig c;
  c.max_dk = 4;
  c.samples = 100;
  c.rows = 10;
  c.keys = 5;
  write_theory(path, run_theory(c));
  sbx::io::H5Reader in(path);
  EXPECT_EQ(in.read_vector("/other/data"), (std::vector<double>{1.0, 2.0}));
  EXPECT_FALSE(in.exists("/theory/stale"));
  EXPECT_EQ(in.read_int_attr("/theory", "keys"), 5);
  EXPECT_EQ(in.shape("/theory/none/logit_grad_median"), std::vector<hsize_t>{3});
}

TEST_F(TheoryFiles, BadOutputPathsThrowAndCreateNothing) {
  EXPECT_THROW(check_theory_output(""), sbx::UserError);
  EXPECT_THROW(check_theory_output((dir_ / "missing" / "t.h5").string()), sbx::UserError);
  EXPECT_THROW(check_theory_output(dir_.string()), sbx::UserError);
  const fs::path text = dir_ / "notes.h5";
  { std::ofstream(text) << "not hdf5\n"; }
  EXPECT_THROW(check_theory_output(text.string()), sbx::UserError);
  EXPECT_THROW(write_theory(text.string(), shared_result()), sbx::UserError);
  EXPECT_THROW(write_theory((dir_ / "missing" / "t.h5").string(), shared_result()), sbx::UserError);
  EXPECT_EQ(read_bytes(text), "not hdf5\n");
  EXPECT_FALSE(fs::exists(dir_ / "missing"));
  EXPECT_EQ(listing(), std::vector<std::string>{"notes.h5"});
  EXPECT_NO_THROW(check_theory_output((dir_ / "new.h5").string()));
  EXPECT_FALSE(fs::exists(dir_ / "new.h5"));  // checking creates nothing
}

TEST(Theory, BadConfigThrowsUserError) {
  const auto bad = [](auto change) {
    TheoryConfig c;
    change(c);
    return c;
  };
  EXPECT_THROW(bad([](TheoryConfig& c) { c.keys = 1; }).validate(), sbx::UserError);
  EXPECT_THROW(bad([](TheoryConfig& c) { c.samples = 0; }).validate(), sbx::UserError);
  EXPECT_THROW(bad([](TheoryConfig& c) { c.samples = -5; }).validate(), sbx::UserError);
  EXPECT_THROW(bad([](TheoryConfig& c) { c.max_dk = 3; }).validate(), sbx::UserError);
  EXPECT_THROW(bad([](TheoryConfig& c) { c.max_dk = 0; }).validate(), sbx::UserError);
  EXPECT_THROW(bad([](TheoryConfig& c) { c.max_dk = 131072; }).validate(), sbx::UserError);
  EXPECT_THROW(run_theory(bad([](TheoryConfig& c) { c.keys = 1; })), sbx::UserError);
  EXPECT_NO_THROW(bad([](TheoryConfig& c) { c.max_dk = 65536; }).validate());
  EXPECT_NO_THROW(TheoryConfig{}.validate());
}

TEST_F(TheoryFiles, CommandRefusesBadInputWithExitTwoAndNoFile) {
  const std::string out = "'" + (dir_ / "t.h5").string() + "'";
  const fs::path text = dir_ / "notes.h5";
  { std::ofstream(text) << "keep me\n"; }
  const std::vector<std::string> bad_arguments = {"--keys 1 --out " + out, "--samples 0 --out " + out, "--max-dk 100 --out " + out,
                                 "--max-dk 131072 --out " + out, "--keys abc --out " + out, "--max-dk 4",
                                 "--max-dk 4 --out '" + (dir_ / "nodir" / "t.h5").string() + "'",
                                 "--max-dk 4 --out '" + dir_.string() + "'",
                                 "--max-dk 4 --out '" + text.string() + "'"};
  for (const std::string& args : bad_arguments) {
    EXPECT_EQ(sandbox("theory " + args), 2) << args;
    const std::string err = read_bytes(dir_ / "stderr.txt");
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << args << ": " << err;
    fs::remove(dir_ / "stderr.txt");
    EXPECT_EQ(listing(), std::vector<std::string>{"notes.h5"}) << args;
  }
  EXPECT_EQ(read_bytes(text), "keep me\n");
}

TEST_F(TheoryFiles, CommandWritesTheFileAndPrintsTheTable) {
  const fs::path out = dir_ / "t.h5";
  const std::string command = std::string("'") + SANDBOX_BINARY + "' theory --max-dk 8 --samples 2000 --out '" +
                              out.string() + "' > '" + (dir_ / "stdout.txt").string() + "'";
  ASSERT_EQ(std::system(command.c_str()), 0);
  const std::string text = read_bytes(dir_ / "stdout.txt");
  EXPECT_NE(text.find("Var(q·k) / d_k stays within"), std::string::npos) << text;
  EXPECT_NE(text.find("max w"), std::string::npos);
  sbx::io::H5Reader in(out.string());
  EXPECT_EQ(in.read_int_vector("/theory/d_k"), (std::vector<std::int64_t>{1, 2, 4, 8}));
  EXPECT_EQ(in.read_int_attr("/theory", "samples"), 2000);
}

}  // namespace
