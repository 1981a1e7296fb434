#include "experiments/src/train/batch_streams.hpp"

#include <algorithm>
#include <cstdio>
#include <deque>

#include "models/task_registry.hpp"

namespace sbx {

struct BatchStreams::Stream {
  std::unique_ptr<models::Task> task;  // draws the batches, in order, under the mutex
  std::size_t bytes_per_batch = 0;
  long reserved = 0;  // the most batches a run has asked for (for the budget)
  std::mutex mutex;
  std::deque<models::Batch> batches;  // a deque: references stay valid while later batches are added

  const models::Batch& at(std::size_t i) {
    std::lock_guard lock(mutex);
    while (batches.size() <= i) {
      batches.emplace_back();
      task->next_batch(batches.back());
    }
    return batches[i];
  }
  std::size_t bytes() const { return bytes_per_batch * static_cast<std::size_t>(std::max(reserved, 1L)); }
};

namespace {

// The stream's task for everything but the batches, which it copies from the stream in order.
class ReplayTask final : public models::Task {
 public:
  explicit ReplayTask(std::shared_ptr<BatchStreams::Stream> stream) : stream_(std::move(stream)) {}
  std::string name() const override { return stream_->task->name(); }
  bool classifies() const override { return stream_->task->classifies(); }
  Eigen::Index output_width() const override { return stream_->task->output_width(); }
  std::vector<Attribute> attributes() const override { return stream_->task->attributes(); }
  // Same sizes every time: the copy reuses b's storage, so a warmed-up step still allocates nothing.
  void next_batch(models::Batch& b) override { b = stream_->at(next_++); }

 private:
  std::shared_ptr<BatchStreams::Stream> stream_;
  std::size_t next_ = 0;
};

std::string key_of(const std::string& task_name, const models::TaskConfig& c) {
  char text[400];
  std::snprintf(text, sizeof text, "%s %ld %ld %ld %ld %ld %ld %ld %ld %d %llu %llu %.17g", task_name.c_str(), static_cast<long>(c.d_model),
                static_cast<long>(c.d_k), static_cast<long>(c.d_v), static_cast<long>(c.d_out), static_cast<long>(c.seq_len),
                static_cast<long>(c.batch), static_cast<long>(c.heads), static_cast<long>(c.context_len), c.causal ? 1 : 0,
                static_cast<unsigned long long>(c.seed), static_cast<unsigned long long>(c.stream), c.teacher_temperature);
  return text;
}

}  // namespace

BatchStreams::BatchStreams(std::size_t budget_bytes) : budget_(budget_bytes) {}
BatchStreams::~BatchStreams() = default;

std::shared_ptr<BatchStreams::Stream> BatchStreams::stream(const models::TaskEntry& task, const models::TaskConfig& config,
                                                           long batches) {
  const models::TaskConfig identity = task.stream_identity(config);
  const std::string key = key_of(task.name, identity);
  std::lock_guard lock(mutex_);
  auto found = std::find_if(recent_.begin(), recent_.end(), [&](const auto& e) { return e.first == key; });
  std::shared_ptr<Stream> s;
  if (found != recent_.end()) {
    s = found->second;
    recent_.splice(recent_.begin(), recent_, found);
  } else {
    s = std::make_shared<Stream>();
    // The stream's own task, made from the run's configuration: the fields stream_identity drops do not
    // change its batches, by its definition.
    s->task = task.make(config);
    const std::size_t rows = static_cast<std::size_t>(config.batch * config.seq_len);
    s->bytes_per_batch = sizeof(double) * (rows * static_cast<std::size_t>(config.d_model + s->task->output_width()) +
                                           static_cast<std::size_t>(config.batch * config.context_len * config.d_model)) +
                         sizeof(int) * rows;
    recent_.emplace_front(key, s);
  }
  if (s->bytes_per_batch * static_cast<std::size_t>(std::max(batches, 1L)) > budget_ / 4) {
    if (s->batches.empty() && s->reserved == 0) recent_.pop_front();  // made for this call only
    return nullptr;
  }
  s->reserved = std::max(s->reserved, batches);
  // Forget the least recently used streams beyond the budget (never the one just asked for).
  std::size_t total = 0;
  for (const auto& e : recent_) total += e.second->bytes();
  while (total > budget_ && recent_.size() > 1) {
    total -= recent_.back().second->bytes();
    recent_.pop_back();
  }
  return s;
}

std::unique_ptr<models::Task> BatchStreams::task(const models::TaskEntry& task, const models::TaskConfig& config, long batches) {
  std::shared_ptr<Stream> s = stream(task, config, batches);
  if (!s) return nullptr;
  return std::make_unique<ReplayTask>(std::move(s));
}

std::vector<models::Batch> BatchStreams::first_batches(const models::TaskEntry& task, const models::TaskConfig& config, long count) {
  std::vector<models::Batch> out;
  std::shared_ptr<Stream> s = stream(task, config, count);
  if (!s) return out;
  for (long i = 0; i < count; ++i) out.push_back(s->at(static_cast<std::size_t>(i)));
  return out;
}

}  // namespace sbx
