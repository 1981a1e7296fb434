#include "autodiff/workers.hpp"

#include <stdexcept>

namespace ad {

// The split keeps every bit only if row ranges start where Eigen's product kernel starts a register block
// (workers.hpp). That block is 3 packets of rows and its size depends on the scalar and the instruction set
// of this build (double: 6, 12, 24 rows for SSE, AVX, AVX-512; float: 12, 24, 48), so it is checked here, at
// compile time, for both precisions; per-row reductions need whole packets likewise.
static_assert(kRowGranule % Eigen::internal::gebp_traits<double, double>::mr == 0, "row granule vs double kernel");
static_assert(kRowGranule % Eigen::internal::gebp_traits<float, float>::mr == 0, "row granule vs float kernel");
static_assert(kRowGranule % Eigen::internal::packet_traits<double>::size == 0, "row granule vs double packet");
static_assert(kRowGranule % Eigen::internal::packet_traits<float>::size == 0, "row granule vs float packet");

Workers::Workers(int threads) : threads_(threads) {
  if (threads < 1) throw std::invalid_argument("ad::Workers: the number of threads must be at least 1");
  team_.reserve(static_cast<size_t>(threads - 1));
  try {
    for (int i = 1; i < threads; ++i) team_.emplace_back([this, i] { serve(i); });
  } catch (...) {  // a thread that could not start: stop the ones that did (a joinable thread must not be destroyed)
    stop();
    throw;
  }
}

Workers::~Workers() { stop(); }

void Workers::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : team_)
    if (t.joinable()) t.join();
}

void Workers::serve(int index) {
  long seen = 0;
  for (;;) {
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
    if (stopping_) return;
    seen = generation_;
    if (index >= count_) continue;
    lock.unlock();
    std::exception_ptr error;
    try {
      call_(context_, index);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    if (error && !error_) error_ = error;
    if (--pending_ == 0) done_.notify_one();
  }
}

void Workers::run_erased(int count, void (*call)(void*, int), void* context) {
  if (count > threads_) throw std::logic_error("ad::Workers::run: more tasks than threads");
  if (count <= 0) return;
  if (busy_.exchange(true, std::memory_order_acq_rel)) {  // nested or concurrent: this thread does it all
    for (int i = 0; i < count; ++i) call(context, i);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    call_ = call;
    context_ = context;
    count_ = count;
    pending_ = count - 1;
    error_ = nullptr;
    ++generation_;
  }
  if (count > 1) wake_.notify_all();
  std::exception_ptr error;
  try {
    call(context, 0);
  } catch (...) {
    error = std::current_exception();
  }
  std::unique_lock lock(mutex_);
  done_.wait(lock, [&] { return pending_ == 0; });
  if (!error) error = error_;
  error_ = nullptr;
  busy_.store(false, std::memory_order_release);
  lock.unlock();
  if (error) std::rethrow_exception(error);
}

}  // namespace ad
