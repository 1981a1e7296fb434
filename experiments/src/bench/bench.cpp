#include "experiments/src/bench/bench.hpp"

#include <sys/resource.h>
#include <time.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <tuple>

#include "autodiff/optim.hpp"
#include "autodiff/workers.hpp"
#include "experiments/src/train/training_step.hpp"
#include "models/attention.hpp"
#include "models/tasks.hpp"

namespace sbx::bench {
namespace {

models::AttentionConfig attention_config(const BenchShape& s) {
  models::AttentionConfig a;
  a.d_model = s.d_model;
  a.d_k = s.d_k;
  a.d_v = s.d_k;
  a.d_out = 0;  // no W^O
  a.scale = models::ScaleMode::Sqrt;
  a.causal = false;
  return a;
}

models::TaskConfig task_config(const BenchShape& s, std::uint64_t seed) {
  models::TaskConfig t;
  t.d_model = s.d_model;
  t.d_k = s.d_k;
  t.d_v = s.d_k;
  t.d_out = 0;
  t.seq_len = s.n;
  t.batch = s.batch;
  t.causal = false;
  t.seed = seed;
  return t;
}

constexpr double kLearningRate = 1e-2;  // `sandbox train`'s default --lr, with Adam's default betas and eps

// Hands TrainingStep one batch made beforehand by the teacher task, so that the step can be timed
// without the batch generation. TrainingStep only reads its batch after next_batch, so once the batch
// is in place there is nothing left to do: next_batch copies it on the first call and is free after.
class ReplayTask final : public models::Task {
 public:
  explicit ReplayTask(models::Batch batch) : batch_(std::move(batch)) {}
  std::string name() const override { return "teacher (replayed)"; }
  bool classifies() const override { return false; }
  Eigen::Index output_width() const override { return batch_.targets.cols(); }
  void next_batch(models::Batch& b) override {
    if (b.x.rows() != batch_.x.rows() || b.x.cols() != batch_.x.cols() || b.targets.cols() != batch_.targets.cols())
      b = batch_;
  }

 private:
  models::Batch batch_;
};

// The engine as `sandbox train` assembles it: a model, a task, Adam and a TrainingStep over them, in
// scalar S (double unless --precision float32).
template <class S = double>
struct Engine {
  Engine(const BenchShape& s, std::unique_ptr<models::Task> t, std::uint64_t seed)
      : rng(seed), model(attention_config(s), rng), task(std::move(t)), adam(kLearningRate), step(model, *task, adam) {}
  void run() { step.run(/*measure=*/false, /*update=*/true); }

  ad::Rng rng;
  models::AttentionOf<S> model;
  std::unique_ptr<models::Task> task;
  ad::AdamOf<S> adam;
  sbx::TrainingStepOf<S> step;
};

models::Batch teacher_batch(const BenchShape& s, std::uint64_t seed) {
  auto task = models::make_task("teacher", task_config(s, seed));
  models::Batch batch;
  task->next_batch(batch);
  return batch;
}

void start_like(ReferenceStep& reference, models::Attention& model) {
  reference.set_parameters(model.find("W_Q")->value, model.find("W_K")->value, model.find("W_V")->value);
}

}  // namespace

double step_flops(const BenchShape& s) {
  const double rows = static_cast<double>(s.batch * s.n);
  return 12.0 * rows * static_cast<double>(s.d_k) * static_cast<double>(s.d_model + s.n);
}

double fitted_exponent(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size() || x.size() < 2) throw std::invalid_argument("fitted_exponent: needs two or more points");
  double mx = 0, my = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    mx += std::log(x[i]);
    my += std::log(y[i]);
  }
  mx /= static_cast<double>(x.size());
  my /= static_cast<double>(x.size());
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double dx = std::log(x[i]) - mx;
    sxy += dx * (std::log(y[i]) - my);
    sxx += dx * dx;
  }
  if (sxx == 0) throw std::invalid_argument("fitted_exponent: the x values are all equal");
  return sxy / sxx;
}

double median(std::vector<double> values) {
  if (values.empty()) throw std::invalid_argument("median of nothing");
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
}

Timing detail::summarise(const Totals& totals, long block, int repeats) {
  Timing t;
  t.min_us_per_step = *std::min_element(totals.per_step_us.begin(), totals.per_step_us.end());
  t.us_per_step = median(totals.per_step_us);
  t.allocations_per_step = static_cast<double>(totals.allocations) / static_cast<double>(block * repeats);
  t.steps_per_block = block;
  t.repeats = repeats;
  t.cpu_share = totals.wall > 0 ? totals.cpu / totals.wall : 1.0;
  return t;
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

long peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;  // KiB on Linux
}

double gemm_gflops(const TimingPlan& plan, Eigen::Index size) {
  ad::Rng rng(99);
  const Matrix a = ad::random_normal(rng, size, size), b = ad::random_normal(rng, size, size);
  Matrix c(size, size);
  const Timing t = time_steps([&] { c.noalias() = a * b; }, plan);
  const double n = static_cast<double>(size);
  return 2.0 * n * n * n / (t.us_per_step * 1e3);
}

double gemm_gflops_float(const TimingPlan& plan, Eigen::Index size) {
  ad::Rng rng(99);
  const ad::MatrixF a = ad::random_normal(rng, size, size).cast<float>(), b = ad::random_normal(rng, size, size).cast<float>();
  ad::MatrixF c(size, size);
  const Timing t = time_steps([&] { c.noalias() = a * b; }, plan);
  const double n = static_cast<double>(size);
  return 2.0 * n * n * n / (t.us_per_step * 1e3);
}

double run_per_step_ratio(const Timing& step, const Timing& full, const Timing& logged, long log_every) {
  const double k = static_cast<double>(std::max(log_every, 1L));
  return ((k - 1) * full.us_per_step + logged.us_per_step) / k / step.us_per_step;
}

PhaseAllocations engine_allocations_by_phase(const BenchShape& s, int steps) {
  // A replica of TrainingStep::run(measure = false, update = true), with the counter read between phases.
  ad::Rng rng(1);
  models::Attention model(attention_config(s), rng);
  auto task = models::make_task("teacher", task_config(s, 1));
  ad::Adam adam(kLearningRate);
  const std::vector<ad::Parameter*> parameters = model.parameters();
  std::vector<double> norms(parameters.size());
  ad::Tape tape;
  models::Batch batch;
  std::uint64_t counts[5] = {0, 0, 0, 0, 0};
  for (int i = -2; i < steps; ++i) {  // two warm-up steps, then `steps` counted ones
    std::uint64_t mark = heap_allocations();
    const auto lap = [&](int phase) {
      const std::uint64_t now = heap_allocations();
      if (i >= 0) counts[phase] += now - mark;
      mark = now;
    };
    task->next_batch(batch);
    lap(0);
    tape.reset();
    for (ad::Parameter* p : parameters) p->zero_grad();
    const models::AttentionNodes nodes = model.forward(tape, tape.constant(batch.x), batch.batch);
    const ad::Var loss = task->loss(tape, nodes.output, batch);
    lap(1);
    tape.backward(loss);
    lap(2);
    bool finite = std::isfinite(loss.value()(0, 0));
    for (size_t p = 0; p < parameters.size(); ++p) {
      norms[p] = parameters[p]->grad.norm();
      finite = finite && std::isfinite(norms[p]);
    }
    lap(3);
    if (finite) adam.step(parameters);
    lap(4);
  }
  const double n = static_cast<double>(steps);
  return {static_cast<double>(counts[0]) / n, static_cast<double>(counts[1]) / n, static_cast<double>(counts[2]) / n,
          static_cast<double>(counts[3]) / n, static_cast<double>(counts[4]) / n};
}

ShapeResult bench_shape(const BenchShape& s, const TimingPlan& plan, std::uint64_t seed) {
  ShapeResult r;
  r.shape = s;
  r.flops = step_flops(s);

  // The step on a batch made beforehand (the same batch every step: the work does not depend on it).
  {
    const models::Batch batch = teacher_batch(s, seed + 1000);
    Engine<> engine(s, std::make_unique<ReplayTask>(batch), seed);
    ReferenceStep reference(s, AdamSettings{kLearningRate});
    start_like(reference, engine.model);
    std::tie(r.engine, r.reference) =
        time_interleaved([&] { engine.run(); }, [&] { reference.step(batch.x, batch.targets); }, plan);
  }
  // The full step, batch generation included, as `sandbox train` runs it.
  {
    Engine<> engine(s, models::make_task("teacher", task_config(s, seed)), seed);
    auto task = models::make_task("teacher", task_config(s, seed));
    ReferenceStep reference(s, AdamSettings{kLearningRate});
    start_like(reference, engine.model);
    models::Batch batch;
    std::tie(r.engine_full, r.reference_full) = time_interleaved(
        [&] { engine.run(); },
        [&] {
          task->next_batch(batch);
          reference.step(batch.x, batch.targets);
        },
        plan);
    r.batch = time_steps([&] { task->next_batch(batch); }, plan);
    r.engine_logged = time_steps([&] { engine.step.run(/*measure=*/true, /*update=*/true); }, plan);
  }
  return r;
}

Float32Result bench_float32(const BenchShape& s, const TimingPlan& plan, std::uint64_t seed) {
  Float32Result r;
  r.shape = s;
  r.flops = step_flops(s);
  {
    const models::Batch batch = teacher_batch(s, seed + 1000);
    Engine<float> engine(s, std::make_unique<ReplayTask>(batch), seed);
    r.step = time_steps([&] { engine.run(); }, plan);
  }
  Engine<float> engine(s, models::make_task("teacher", task_config(s, seed)), seed);
  r.full = time_steps([&] { engine.run(); }, plan);
  r.logged = time_steps([&] { engine.step.run(/*measure=*/true, /*update=*/true); }, plan);
  return r;
}

HeadsResult bench_heads(const BenchShape& s, Eigen::Index heads, const TimingPlan& plan, std::uint64_t seed) {
  HeadsResult r;
  r.shape = s;
  r.heads = heads;
  models::AttentionConfig a = attention_config(s);
  a.heads = heads;
  models::TaskConfig t = task_config(s, seed);
  t.heads = heads;
  ad::Rng rng(seed);
  models::Attention model(a, rng);
  auto task = models::make_task("teacher", t);
  ad::Adam adam(kLearningRate);
  sbx::TrainingStep step(model, *task, adam);
  r.full = time_steps([&] { step.run(/*measure=*/false, /*update=*/true); }, plan);
  r.measured = time_steps([&] { step.run(/*measure=*/true, /*update=*/true); }, plan);
  return r;
}

ThreadsResult bench_threads(const BenchShape& s, int threads, const TimingPlan& plan, std::uint64_t seed) {
  ThreadsResult r;
  r.shape = s;
  r.threads = threads;
  ad::Workers team(threads);
  const models::Batch batch = teacher_batch(s, seed + 1000);
  Engine<> one(s, std::make_unique<ReplayTask>(batch), seed), many(s, std::make_unique<ReplayTask>(batch), seed);
  many.step.set_workers(&team);
  // The same start, the same steps: the parameters must come out the same bits.
  for (int i = 0; i < 3; ++i) one.run(), many.run();
  r.same_bits = true;
  const auto a = one.model.parameters(), b = many.model.parameters();
  for (size_t i = 0; i < a.size(); ++i)
    r.same_bits = r.same_bits && a[i]->value.size() == b[i]->value.size() &&
                  std::memcmp(a[i]->value.data(), b[i]->value.data(), sizeof(double) * static_cast<size_t>(a[i]->value.size())) == 0;
  std::tie(r.one, r.team) = time_interleaved([&] { one.run(); }, [&] { many.run(); }, plan);
  std::tie(r.one_logged, r.team_logged) =
      time_interleaved([&] { one.step.run(/*measure=*/true, /*update=*/true); },
                       [&] { many.step.run(/*measure=*/true, /*update=*/true); }, plan);
  return r;
}

double ScalingSweep::value(const ScalingPoint& p) const {
  return static_cast<double>(variable == "n" ? p.shape.n : p.shape.d_k);
}

double ScalingSweep::engine_exponent() const {
  std::vector<double> x, y;
  for (const auto& p : points) x.push_back(value(p)), y.push_back(p.engine.us_per_step);
  return fitted_exponent(x, y);
}

double ScalingSweep::reference_exponent() const {
  std::vector<double> x, y;
  for (const auto& p : points) x.push_back(value(p)), y.push_back(p.reference.us_per_step);
  return fitted_exponent(x, y);
}

double ScalingSweep::flop_exponent() const {
  std::vector<double> x, y;
  for (const auto& p : points) x.push_back(value(p)), y.push_back(p.flops);
  return fitted_exponent(x, y);
}

ScalingSweep scaling_sweep(const std::string& variable, const std::vector<BenchShape>& shapes, const TimingPlan& plan) {
  ScalingSweep sweep;
  sweep.variable = variable;
  for (const BenchShape& s : shapes) {
    ScalingPoint p;
    p.shape = s;
    p.flops = step_flops(s);
    const models::Batch batch = teacher_batch(s, 1001);
    Engine<> engine(s, std::make_unique<ReplayTask>(batch), 1);
    ReferenceStep reference(s, AdamSettings{kLearningRate});
    start_like(reference, engine.model);
    std::tie(p.engine, p.reference) =
        time_interleaved([&] { engine.run(); }, [&] { reference.step(batch.x, batch.targets); }, plan);
    sweep.points.push_back(p);
  }
  return sweep;
}

}  // namespace sbx::bench
