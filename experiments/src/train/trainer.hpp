#pragma once
// A whole training run: gradient-check the model on a small version of the configuration, train, and
// collect every logged metric into a RunRecord. It never writes files (the caller saves the record).
#include <functional>
#include <string>

#include "experiments/src/io/run_file.hpp"
#include "experiments/src/train/gradcheck_cache.hpp"
#include "experiments/src/train/run_profile.hpp"
#include "experiments/src/train/run_config.hpp"

namespace ad {
class Workers;
}

namespace sbx {

class BatchStreams;

enum class RunStatus { Complete, Interrupted, Diverged };
const char* status_name(RunStatus status);

struct RunOutcome {
  io::RunRecord record;
  RunStatus status = RunStatus::Complete;
  std::string message;  // for diverged runs: the step and what diverged ("diverged at step t: <reason>")
  long diverged_step = -1;  // for diverged runs: the step whose loss went non-finite or past the bound
  std::string diverged_reason;  // for diverged runs: the quantity that went non-finite, or the loss and the bound
};

// Called after every step with the number of steps done and that step's training loss (progress lines).
using StepCallback = std::function<void(long steps_done, double loss)>;

// What a caller may lend a run without changing any logged number: a gradient-check cache and batch
// streams shared with other runs (a sweep's), and a profile its phase times are added to (`sandbox bench
// --breakdown`).
struct RunHooks {
  GradcheckCache* gradcheck_cache = nullptr;
  BatchStreams* batch_streams = nullptr;
  RunProfile* profile = nullptr;
  // Threads inside the run (`train --threads`): its passes are split over this team. Not part of the
  // run's identity: every logged number is the same bits for any team.
  ad::Workers* workers = nullptr;
};

// `should_stop` is polled at every step boundary; when it returns true the run ends "interrupted" with
// what it has logged so far.
RunOutcome train_run(const RunConfig& config, const std::function<bool()>& should_stop,
                     const StepCallback& on_step = nullptr, const RunHooks& hooks = {});

// The attributes every run stores: each option of the table under its attribute name (resolved values;
// flags as int64 0/1), `config` (the canonical configuration text) and `config_hash`.
void set_config_attributes(io::RunRecord& record, const RunConfig& config);

}  // namespace sbx
