#pragma once
// Where a training run's time goes (`sandbox bench --breakdown`): seconds of the run's thread's CPU time
// per phase, summed over the runs profiled (CPU time, not wall time: on a machine shared with other work the
// wall times swell with the load, the thread's CPU time much less). Filled only when the caller asks
// (train_run's `profile`); reading the clock a few times per step costs about 1% of the smallest step.
#include <time.h>

namespace sbx {

struct RunProfile {
  double gradcheck = 0.0;   // the per-run gradient check on the small model form
  double setup = 0.0;       // model, task, optimizer, evaluation set (drawn once per run)
  double batch = 0.0;       // the task making training batches (for teacher: a teacher forward pass)
  double step = 0.0;        // forward, backward, gradient norms, optimizer update
  double metrics = 0.0;     // the attention metrics and accuracy of a logged step
  double probe = 0.0;       // logit_delta_rms: the forward pass after the update
  double evaluation = 0.0;  // the held-out evaluations
  double total = 0.0;       // the whole of train_run (the phases above plus logging into the record)
  long runs = 0;

  RunProfile& operator+=(const RunProfile& o) {
    gradcheck += o.gradcheck, setup += o.setup, batch += o.batch, step += o.step, metrics += o.metrics;
    probe += o.probe, evaluation += o.evaluation, total += o.total, runs += o.runs;
    return *this;
  }
};

// Adds this thread's CPU seconds since it was made (or last lapped) to a phase; does nothing when off.
class PhaseClock {
 public:
  explicit PhaseClock(bool on = true) : on_(on), last_(on ? now() : 0.0) {}
  void lap(double& phase) {
    if (!on_) return;
    const double t = now();
    phase += t - last_;
    last_ = t;
  }

 private:
  static double now() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  }
  bool on_;
  double last_;
};

}  // namespace sbx
