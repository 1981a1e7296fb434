#pragma once
// Threads inside one evaluation. A tape may be given a team of Workers; its ops then split their large
// products and row passes into contiguous ranges that the team computes side by side.
//
// The split never changes a bit of any result, whatever the number of threads:
//  - a range of output rows (or columns) is computed by the same Eigen product, over the same depth, as
//    the whole: Eigen's kernel accumulates each element over the depth in an order that depends only on
//    the depth and on where the row falls within the kernel's register block of mr rows (3 packets:
//    6, 12 or 24 rows for SSE, AVX or AVX-512 doubles, 12, 24 or 48 for floats), so ranges start at
//    multiples of kRowGranule, a multiple of every mr (workers.cpp asserts it for the build's own);
//  - per-row reductions take rows in the same packets for the same reason (48 is a multiple of every
//    packet size and keeps every range's start 64-byte aligned);
//  - per-block products (one sequence and head) and per-column passes are computed exactly as before,
//    each by one thread.
// The tests `Workers.*` and `Float32Workers.*` compare every split op's value and gradients, bit for bit, across
// team sizes, in double and in float.
#include <Eigen/Core>

#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace ad {

// Row ranges start at multiples of this (see above).
inline constexpr Eigen::Index kRowGranule = 48;

class Workers {
 public:
  // A team of `threads` (≥ 1): the calling thread and threads − 1 started here, waiting for work.
  explicit Workers(int threads);
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  int threads() const { return threads_; }
  // Work (in multiply-adds or element passes) below which an op does not split: waking the team costs
  // a few microseconds. Tests set 0 to split every op they can.
  double min_work() const { return min_work_; }
  void set_min_work(double work) { min_work_ = work; }

  // True while a run is in progress: a split asked for from inside a task (or from another thread sharing
  // the team) then runs on its own thread instead of waiting for a team that is busy.
  bool busy() const { return busy_.load(std::memory_order_acquire); }

  // Runs task(i) for every i in [0, count) (count ≤ threads()), task 0 on the calling thread, and returns
  // when all are done. Allocates nothing. An exception thrown by a task is rethrown here.
  template <class Task>
  void run(int count, Task& task) {
    run_erased(count, [](void* context, int i) { (*static_cast<Task*>(context))(i); }, &task);
  }

 private:
  void run_erased(int count, void (*call)(void*, int), void* context);
  void serve(int index);
  void stop();

  int threads_;
  double min_work_ = 1 << 17;
  std::vector<std::thread> team_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  long generation_ = 0;  // bumped for every run; a helper runs its task once per generation
  int count_ = 0, pending_ = 0;
  bool stopping_ = false;
  void (*call_)(void*, int) = nullptr;
  void* context_ = nullptr;
  std::exception_ptr error_;
  std::atomic<bool> busy_{false};
};

// Calls body(begin, count) over contiguous ranges that cover [0, total), in parallel on `workers` when it
// has more than one thread and `work` reaches its min_work; otherwise once, as body(0, total). Every range
// but the last starts and ends at a multiple of `granule`; the last takes the rest.
template <class Body>
void parallel_ranges(Workers* workers, Eigen::Index total, Eigen::Index granule, double work, Body&& body) {
  const Eigen::Index units = granule > 0 ? total / granule : 0;
  if (!workers || workers->threads() < 2 || units < 2 || work < workers->min_work() || workers->busy()) {
    body(Eigen::Index{0}, total);
    return;
  }
  const int parts = static_cast<int>(std::min<Eigen::Index>(workers->threads(), units));
  auto task = [&](int i) {
    const Eigen::Index begin = units * i / parts * granule;
    const Eigen::Index end = i + 1 == parts ? total : units * (i + 1) / parts * granule;
    body(begin, end - begin);
  };
  workers->run(parts, task);
}

}  // namespace ad
