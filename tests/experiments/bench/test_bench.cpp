// Tests of `sandbox bench`: the hand-derived reference step against the engine, the allocation counter,
// the benchmark's arithmetic, and the command's handling of a bad --out path. No timing is asserted.
#include <gtest/gtest.h>

#include <regex>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/optim.hpp"
#include "autodiff/workers.hpp"
#include "experiments/src/bench/alloc_counter.hpp"
#include "experiments/src/bench/bench.hpp"
#include "experiments/src/bench/breakdown.hpp"
#include "experiments/src/bench/reference_step.hpp"
#include "experiments/src/io/h5_store.hpp"
#include "experiments/src/train/run_config.hpp"
#include "experiments/src/train/training_step.hpp"
#include "models/attention.hpp"
#include "models/tasks.hpp"
#include "tests/support/test_support.hpp"

namespace {

namespace fs = std::filesystem;
using sbx::bench::BenchShape;
using sbx::bench::Matrix;
using sbx::bench::ReferenceStep;

// ‖a − b‖_max / ‖b‖_max: the relative error of a against b.
double relative_error(const Matrix& a, const Matrix& b) {
  EXPECT_EQ(a.rows(), b.rows());
  EXPECT_EQ(a.cols(), b.cols());
  const double scale = b.cwiseAbs().maxCoeff();
  return (a - b).cwiseAbs().maxCoeff() / (scale > 0 ? scale : 1.0);
}

// The engine exactly as `sandbox train` builds it (teacher task, sqrt scale, no W^O, d_v = d_k, Adam).
struct Engine {
  explicit Engine(const BenchShape& s, uint64_t seed)
      : rng(seed), model(attention_config(s), rng), task(models::make_task("teacher", task_config(s, seed))),
        adam(1e-2), step(model, *task, adam) {}
  static models::AttentionConfig attention_config(const BenchShape& s) {
    models::AttentionConfig a;
    a.d_model = s.d_model, a.d_k = s.d_k, a.d_v = s.d_k, a.d_out = 0, a.scale = models::ScaleMode::Sqrt;
    return a;
  }
  static models::TaskConfig task_config(const BenchShape& s, uint64_t seed) {
    models::TaskConfig t;
    t.d_model = s.d_model, t.d_k = s.d_k, t.d_v = s.d_k, t.d_out = 0, t.seq_len = s.n, t.batch = s.batch;
    t.seed = seed;
    return t;
  }
  Matrix value(const char* name) { return model.find(name)->value; }
  Matrix grad(const char* name) { return model.find(name)->grad; }

  ad::Rng rng;
  models::Attention model;
  std::unique_ptr<models::Task> task;
  ad::Adam adam;
  sbx::TrainingStep step;
};

// Small and non-square everywhere (batch ≠ n ≠ d_model ≠ d_k), so a transposed formula cannot pass.
const BenchShape kSmall{3, 5, 7, 4};

TEST(BenchReference, LossAndGradientsEqualTheEngines) {
  for (uint64_t seed : {1u, 2u, 3u}) {
    Engine engine(kSmall, seed);
    ReferenceStep reference(kSmall);
    reference.set_parameters(engine.value("W_Q"), engine.value("W_K"), engine.value("W_V"));
    engine.step.run(/*measure=*/false, /*update=*/false);  // the engine's gradients on its own batch
    const models::Batch& batch = engine.step.batch();
    const double loss = reference.forward_backward(batch.x, batch.targets);

    const double engine_loss = engine.step.measurement().loss;
    ASSERT_GT(engine_loss, 0.0);
    EXPECT_LE(std::abs(loss - engine_loss) / engine_loss, 1e-10) << "seed " << seed;
    EXPECT_LE(relative_error(reference.grad_w_q(), engine.grad("W_Q")), 1e-10) << "dW_Q, seed " << seed;
    EXPECT_LE(relative_error(reference.grad_w_k(), engine.grad("W_K")), 1e-10) << "dW_K, seed " << seed;
    EXPECT_LE(relative_error(reference.grad_w_v(), engine.grad("W_V")), 1e-10) << "dW_V, seed " << seed;
    // The gradients are not trivially zero (a comparison of zeros would prove nothing).
    EXPECT_GT(engine.grad("W_Q").norm(), 1e-6);
    EXPECT_GT(engine.grad("W_K").norm(), 1e-6);
    EXPECT_GT(engine.grad("W_V").norm(), 1e-6);
  }
}

TEST(BenchReference, AdamUpdatesEqualTheEnginesOverSeveralSteps) {
  Engine engine(kSmall, 7);
  ReferenceStep reference(kSmall);
  reference.set_parameters(engine.value("W_Q"), engine.value("W_K"), engine.value("W_V"));
  for (int t = 0; t < 5; ++t) {
    engine.step.run(false, true);  // next batch, gradients, Adam update
    const models::Batch& batch = engine.step.batch();
    reference.step(batch.x, batch.targets);
    EXPECT_LE(relative_error(reference.w_q(), engine.value("W_Q")), 1e-10) << "step " << t;
    EXPECT_LE(relative_error(reference.w_k(), engine.value("W_K")), 1e-10) << "step " << t;
    EXPECT_LE(relative_error(reference.w_v(), engine.value("W_V")), 1e-10) << "step " << t;
  }
}

TEST(BenchReference, RejectsABatchOfTheWrongShape) {
  ReferenceStep reference(kSmall);
  EXPECT_THROW(reference.forward_backward(Matrix::Zero(15, 6), Matrix::Zero(15, 4)), std::invalid_argument);
  EXPECT_THROW(reference.set_parameters(Matrix::Zero(4, 7), Matrix::Zero(7, 4), Matrix::Zero(7, 4)),
               std::invalid_argument);
}

TEST(BenchReference, AWarmedUpStepAllocatesNothing) {
  const BenchShape shape{4, 16, 32, 64};  // products big enough for Eigen's blocked GEMM
  ReferenceStep reference(shape);
  ad::Rng rng(3);
  const Matrix x = ad::random_normal(rng, shape.batch * shape.n, shape.d_model);
  const Matrix y = ad::random_normal(rng, shape.batch * shape.n, shape.d_k);
  reference.set_parameters(ad::random_normal(rng, 32, 64, 0.2), ad::random_normal(rng, 32, 64, 0.2),
                           ad::random_normal(rng, 32, 64, 0.2));
  reference.step(x, y);
  const auto before = sbx::bench::heap_allocations();
  for (int i = 0; i < 3; ++i) reference.step(x, y);
  EXPECT_EQ(sbx::bench::heap_allocations() - before, 0u);
}

// What TrainingStep's header promises and `sandbox bench` measures: once warmed up, a step of the engine
// (batch generation, forward, backward, Adam) makes no heap allocation. At this small shape every Eigen
// product keeps its packing buffers on the stack; at the bench's shapes the products of 512-row batches
// need buffers above EIGEN_STACK_ALLOCATION_LIMIT, which Eigen takes from the heap (the bench reports it).
TEST(BenchReference, AWarmedUpEngineStepAllocatesNothingAtASmallShape) {
  Engine engine(kSmall, 5);
  for (int i = 0; i < 3; ++i) engine.step.run(false, true);
  const auto before = sbx::bench::heap_allocations();
  for (int i = 0; i < 3; ++i) engine.step.run(false, true);
  EXPECT_EQ(sbx::bench::heap_allocations() - before, 0u);
}

// The same with heads: self- and cross-attention with 3 heads (the split/merge moves and h·B blocks), on
// unlogged and logged steps (the per-head metrics keep their storage), stay allocation-free once warm, in
// float64 and in float32 (whose batches are rounded into buffers the step keeps).
template <class S>
void expect_warm_multi_head_steps_allocate_nothing() {
  for (const bool cross : {false, true}) {
    models::AttentionConfig a;
    a.d_model = 12, a.d_k = 4, a.d_v = 4, a.heads = 3, a.d_out = 5, a.causal = !cross;
    models::TaskConfig t;
    t.d_model = 12, t.d_k = 4, t.d_v = 4, t.heads = 3, t.d_out = 5, t.seq_len = 6, t.batch = 4, t.causal = !cross;
    t.context_len = cross ? 7 : 0;
    ad::Rng rng(1);
    models::AttentionOf<S> model(a, rng);
    auto task = models::make_task(cross ? "lookup" : "teacher", t);
    ad::AdamOf<S> adam(1e-2);
    sbx::TrainingStepOf<S> step(model, *task, adam);
    for (int i = 0; i < 3; ++i) step.run(true, true);
    const auto before = sbx::bench::heap_allocations();
    for (int i = 0; i < 3; ++i) {
      step.run(false, true);
      step.run(true, true);
    }
    EXPECT_EQ(sbx::bench::heap_allocations() - before, 0u) << (cross ? "cross" : "self") << " in " << sizeof(S) * 8 << " bits";
  }
}

TEST(BenchReference, AWarmedUpMultiHeadStepAllocatesNothingLoggedOrNot) {
  expect_warm_multi_head_steps_allocate_nothing<double>();
}

TEST(BenchReference, AWarmedUpFloat32StepAllocatesNothingLoggedOrNot) {
  expect_warm_multi_head_steps_allocate_nothing<float>();
}

// With a team of threads (train --threads) every op splits (min_work 0), and a warmed-up step, logged or
// not, still allocates nothing: the team's hand-off and the split ranges take no storage.
TEST(BenchReference, AWarmedUpThreadedStepAllocatesNothing) {
  models::AttentionConfig a;
  a.d_model = 12, a.d_k = 4, a.d_v = 4, a.heads = 2, a.d_out = 5, a.causal = true;
  models::TaskConfig t;
  t.d_model = 12, t.d_k = 4, t.d_v = 4, t.heads = 2, t.d_out = 5, t.seq_len = 50, t.batch = 4, t.causal = true;
  ad::Rng rng(1);
  models::Attention model(a, rng);
  auto task = models::make_task("teacher", t);
  ad::Adam adam(1e-2);
  sbx::TrainingStep step(model, *task, adam);
  ad::Workers team(2);
  team.set_min_work(0);
  step.set_workers(&team);
  task->set_workers(&team);
  for (int i = 0; i < 3; ++i) step.run(true, true);
  const auto before = sbx::bench::heap_allocations();
  for (int i = 0; i < 3; ++i) {
    step.run(false, true);
    step.run(true, true);
  }
  EXPECT_EQ(sbx::bench::heap_allocations() - before, 0u);
}

// ------------------------------------------------------------------------------- allocation counter
// Keeps the compiler from eliding an allocation whose result is never used (it may drop new/delete and
// malloc/free pairs).
template <class T>
T* escape(T* p) {
  asm volatile("" : : "g"(p) : "memory");
  return p;
}

TEST(BenchAllocCounter, CountsEveryFormOfOperatorNewAndMalloc) {
  using sbx::bench::heap_allocations;
  auto before = heap_allocations();
  delete escape(new int(1));
  EXPECT_EQ(heap_allocations() - before, 1u);

  struct alignas(64) Wide {
    double v[8];
  };
  before = heap_allocations();
  delete[] escape(new double[17]);
  delete escape(new (std::nothrow) int(2));
  delete[] escape(new (std::nothrow) double[3]);
  delete escape(new Wide());                   // aligned new
  delete[] escape(new Wide[3]);                // aligned new[]
  delete escape(new (std::nothrow) Wide());    // aligned nothrow new
  EXPECT_EQ(heap_allocations() - before, 6u);

  if (!sbx::bench::counts_c_allocations()) GTEST_SKIP() << "malloc is owned by the sanitizer in this build";
  before = heap_allocations();
  void* p = escape(std::malloc(100));
  p = escape(std::realloc(p, 10000));
  std::free(p);
  std::free(escape(std::calloc(3, 8)));
  void* q = nullptr;
  ASSERT_EQ(posix_memalign(&q, 64, 256), 0);
  std::free(escape(q));
  std::free(escape(std::aligned_alloc(64, 256)));
  EXPECT_EQ(heap_allocations() - before, 5u);

  // Eigen allocates with malloc, not operator new: this is why malloc is counted.
  before = heap_allocations();
  const auto new_before = sbx::bench::operator_new_calls();
  {
    Matrix m(50, 50);
    escape(m.data());
    m.setZero();
    EXPECT_EQ(m.sum(), 0.0);
  }
  EXPECT_EQ(heap_allocations() - before, 1u);
  EXPECT_EQ(sbx::bench::operator_new_calls() - new_before, 0u);
}

// ------------------------------------------------------------------------------------- arithmetic
TEST(BenchMath, FlopCountIsTwelveNkTimesDModelPlusN) {
  // 3 projections + 3 weight gradients: 6 · 2·(B·n)·d_model·d_k; scores, weighted sum, and their four
  // backward products: 6 · 2·B·n·n·d_k.
  const BenchShape s{2, 3, 5, 7};
  const double rows = 6.0;
  EXPECT_DOUBLE_EQ(sbx::bench::step_flops(s), 6 * 2 * rows * 5 * 7 + 6 * 2 * 2 * 3 * 3 * 7);
  EXPECT_DOUBLE_EQ(sbx::bench::step_flops(s), 12.0 * rows * 7 * (5 + 3));
}

TEST(BenchMath, FittedExponentOfAPowerLaw) {
  std::vector<double> x, y;
  for (double v : {16.0, 32.0, 64.0, 128.0}) {
    x.push_back(v);
    y.push_back(3.0 * std::pow(v, 1.7));
  }
  EXPECT_NEAR(sbx::bench::fitted_exponent(x, y), 1.7, 1e-12);
}

// A run of log_every steps: log_every − 1 unlogged whole steps and one logged step, over the bare step.
TEST(BenchMath, RunPerStepRatioWeighsLoggedStepsByTheLogInterval) {
  sbx::bench::Timing step, full, logged;
  step.us_per_step = 100, full.us_per_step = 120, logged.us_per_step = 220;
  EXPECT_DOUBLE_EQ(sbx::bench::run_per_step_ratio(step, full, logged, 1), 2.2);
  EXPECT_DOUBLE_EQ(sbx::bench::run_per_step_ratio(step, full, logged, 4), (3 * 120 + 220) / 4.0 / 100);
  EXPECT_DOUBLE_EQ(sbx::bench::run_per_step_ratio(step, full, logged, 0), 2.2);  // never logged less than every step
}

TEST(BenchMath, MedianOfOddAndEvenCounts) {
  EXPECT_DOUBLE_EQ(sbx::bench::median({3.0, 1.0, 2.0}), 2.0);
  EXPECT_DOUBLE_EQ(sbx::bench::median({4.0, 1.0, 3.0, 2.0}), 2.5);
}

// --------------------------------------------------------------------------------------- command
using sbx::test::run_sandbox;

class BenchCli : public ::testing::Test {
 protected:
  sbx::test::TempDir scratch_{"sandbox_bench_test"};
  const fs::path& dir_ = scratch_.dir();
};

int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

// --shape times one shape, --precision float32 the float engine alone: the float32 table has that one row,
// and the float64 table (and its targets) is not printed. Bad values are one line and exit 2.
TEST_F(BenchCli, OneShapeInFloat32PrintsOneFloat32Row) {
  const fs::path printed = dir_ / "out.txt";
  const std::string command = std::string("'") + SANDBOX_BINARY + "' bench --quick --shape 4x8x16x4 --precision float32 >'" +
                              printed.string() + "'";
  ASSERT_EQ(std::system(command.c_str()), 0);
  std::ifstream in(printed);
  const std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(out.find("float32 (train --precision float32)"), std::string::npos) << out;
  // step us, GFLOP/s, % of the float GEMM rate, no float64 step to compare with | full us, allocations |
  // logged us and run/step, which with the default log-every of 1 is the logged step over the bare step.
  const std::regex row(R"(\n4x8x16x4 +\| +([0-9.]+) +[0-9.]+ +[0-9.]+% +- +\| +[0-9.]+ +0\.00 \| +([0-9.]+) +([0-9.]+)\n)");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, row)) << out;
  ASSERT_EQ(sbx::RunConfig{}.log_every, 1);
  // Up to the printing: µs to 0.1 (0.05 off each at most, relative to a step of a few µs), the ratio to 0.01.
  const double step = std::stod(m[1]), logged = std::stod(m[2]), ratio = logged / step;
  EXPECT_NEAR(std::stod(m[3]), ratio, 0.005 + ratio * (0.05 / step + 0.05 / logged) + 1e-9) << out;
  EXPECT_NE(out.find("float product)"), std::string::npos) << "the float GEMM rate is not printed";
  EXPECT_EQ(out.find("engine us     ref us"), std::string::npos) << "the float64 table was printed";
  EXPECT_EQ(out.find("targets:"), std::string::npos);
  fs::remove(printed);
  sbx::test::CommandResult r;
  for (const std::string bad : {"--shape 3x4", "--shape 0x8x16x4", "--precision half", "--precision float32 --out x.h5"}) {
    r = run_sandbox("bench --quick " + bad, dir_);
    EXPECT_EQ(r.status, 2) << bad;
    EXPECT_EQ(count_lines(r.err), 1) << bad << ": " << r.err;
  }
  EXPECT_FALSE(fs::exists(dir_ / "x.h5"));
}

TEST_F(BenchCli, BadOutPathIsOneLineExitTwoAndNoFile) {
  const fs::path missing_dir = dir_ / "no" / "such" / "bench.h5";
  auto r = run_sandbox("bench --quick --out '" + missing_dir.string() + "'", dir_);
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "no"));

  r = run_sandbox("bench --quick --out '" + dir_.string() + "'", dir_);  // a directory
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;

  const fs::path not_hdf5 = dir_ / "text.h5";
  std::ofstream(not_hdf5) << "not an HDF5 file\n";
  r = run_sandbox("bench --quick --out '" + not_hdf5.string() + "'", dir_);
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;

  r = run_sandbox("bench --quick --repeats 0", dir_);
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;

  // Only the files this test made are there: no temporary left behind.
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir_)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"stderr.txt", "text.h5"}));
}

TEST_F(BenchCli, BreakdownOfASweepFileNamesEveryPhaseAndConfigNeedsBreakdown) {
  const fs::path ini = dir_ / "grid.ini";
  std::ofstream(ini) << "[grid]\ntask = teacher recall\ndk = 2 4\n[run]\nd-model = 8\nseq-len = 4\nbatch = 2\nsteps = 3\n";
  auto r = run_sandbox("bench --quick --config '" + ini.string() + "'", dir_);  // --config alone: refused
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("--breakdown"), std::string::npos) << r.err;

  const std::string out = (dir_ / "out.txt").string();
  const int status = std::system(("'" + std::string(SANDBOX_BINARY) + "' bench --breakdown --config '" + ini.string() + "' > '" + out + "' 2>&1").c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::ifstream in(out);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* phase : {"gradcheck", "setup", "batch", "step", "metrics", "probe", "eval", "save", "total"})
    EXPECT_NE(text.find(phase), std::string::npos) << phase << "\n" << text;
  for (const char* group : {"teacher dk=2", "teacher dk=4", "recall dk=2", "recall dk=4"})
    EXPECT_NE(text.find(group), std::string::npos) << group << "\n" << text;
}

TEST_F(BenchCli, QuickRunWritesTheBenchGroup) {
  const fs::path out = dir_ / "bench.h5";
  const auto r = run_sandbox("bench --quick --threads 2 --out '" + out.string() + "'", dir_);
  ASSERT_EQ(r.status, 0) << r.err;
  sbx::io::H5Reader reader(out.string());
  const auto engine = reader.read_vector("/bench/engine_us");
  ASSERT_FALSE(engine.empty());
  for (const char* column : {"batch", "seq_len", "d_model", "d_k"})
    EXPECT_EQ(reader.read_int_vector(std::string("/bench/") + column).size(), engine.size()) << column;
  for (const char* column : {"reference_us", "ratio", "engine_full_us", "reference_full_us", "batch_us", "gflops",
                             "gemm_fraction", "allocations_per_step", "reference_allocations_per_step", "flops"})
    EXPECT_EQ(reader.read_vector(std::string("/bench/") + column).size(), engine.size()) << column;
  for (double us : engine) EXPECT_GT(us, 0.0);
  EXPECT_GT(reader.read_double_attr("/bench", "gemm_gflops"), 0.0);
  EXPECT_GT(reader.read_int_attr("/bench", "peak_rss_kib"), 0);
  // --threads: a team of two split the step's products (4x64x64x32 is large enough) and changed no bit
  // (bench exits 1 when it does).
  EXPECT_EQ(reader.read_string_attr("/bench", "threads_shape"), "4x64x64x32");
  EXPECT_EQ(reader.read_int_attr("/bench", "threads"), 2);
  EXPECT_EQ(reader.read_int_attr("/bench", "threads_same_bits"), 1);
  for (const char* us : {"threads_one_us", "threads_team_us", "threads_logged_one_us", "threads_logged_team_us"})
    EXPECT_GT(reader.read_double_attr("/bench", us), 0.0) << us;
}

sbx::RunConfig breakdown_run(long d_k, const std::string& scale) {
  sbx::RunConfig c;
  c.d_model = 8, c.d_k = d_k, c.d_v = 4, c.seq_len = 5, c.batch = 3, c.steps = 3, c.scale = scale, c.eval_batches = 1;
  return c;
}

TEST(RunBreakdown, PhasesAddUpToAtMostTheRunsTimeAndEachRunIsCounted) {
  sbx::bench::BreakdownGroup group{"two", {breakdown_run(4, "sqrt"), breakdown_run(8, "none")}};
  group.runs[1].task = "recall";
  const auto rows = sbx::bench::run_breakdown({group});
  ASSERT_EQ(rows.size(), 1u);
  const sbx::RunProfile& p = rows[0].profile;
  EXPECT_EQ(p.runs, 2);
  for (double phase : {p.gradcheck, p.setup, p.batch, p.step, p.metrics, p.probe, p.evaluation}) EXPECT_GT(phase, 0.0);
  EXPECT_LE(p.gradcheck + p.setup + p.batch + p.step + p.metrics + p.probe + p.evaluation, p.total);
  EXPECT_GT(rows[0].save_seconds, 0.0);
}

}  // namespace
