#pragma once
// A whole training run: gradient-check the model on a small version of the configuration, train, and
// collect every logged metric into a RunRecord. It never writes files (the caller saves the record).
#include <functional>
#include <string>

#include "experiments/src/io/run_file.hpp"
#include "experiments/src/train/run_config.hpp"

namespace sbx {

enum class RunStatus { Complete, Interrupted, Diverged };
const char* status_name(RunStatus status);

struct RunOutcome {
  io::RunRecord record;
  RunStatus status = RunStatus::Complete;
  std::string message;  // for diverged runs: the step and the quantity that went non-finite
};

// `should_stop` is polled at every step boundary; when it returns true the run ends "interrupted" with
// what it has logged so far.
RunOutcome train_run(const RunConfig& config, const std::function<bool()>& should_stop);

}  // namespace sbx
