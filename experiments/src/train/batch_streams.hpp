#pragma once
// A sweep's runs share their data. Every scale mode and learning rate of one seed trains on the same batch
// stream (TaskConfig::seed and stream decide it, never the model's settings), and recall's data does not
// even depend on d_k: making the batches once per stream instead of once per run removes most of the
// batch generation, which for the teacher task (a teacher forward pass per batch) costs as much as the
// training step at the study's shapes. The runs get the very batches they would have drawn themselves.
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "models/task_registry.hpp"

namespace sbx {

class BatchStreams {
 public:
  // Streams are kept, most recently asked for first, while their batches fit `budget_bytes` (runs in
  // flight keep theirs regardless); one stream may take a quarter of it.
  explicit BatchStreams(std::size_t budget_bytes = std::size_t{512} << 20);
  ~BatchStreams();

  // A task that replays the shared stream of (task, config) from its first batch: next_batch copies
  // the stream's next batch (made on first demand by the stream's own task). nullptr when `batches`
  // batches would not fit one stream's share of the budget: the caller then makes its own task.
  std::unique_ptr<models::Task> task(const models::TaskEntry& task, const models::TaskConfig& config, long batches);
  // The first `count` batches of the stream, copied (a run's evaluation set); empty if they do not fit.
  std::vector<models::Batch> first_batches(const models::TaskEntry& task, const models::TaskConfig& config, long count);

  struct Stream;

 private:
  std::shared_ptr<Stream> stream(const models::TaskEntry& task, const models::TaskConfig& config, long batches);

  std::mutex mutex_;
  std::list<std::pair<std::string, std::shared_ptr<Stream>>> recent_;  // most recently used first
  std::size_t budget_;
};

}  // namespace sbx
