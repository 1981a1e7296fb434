#pragma once
// A sweep: the product of any number of option axes over fixed settings, run in parallel worker threads
// while one thread (the caller's) writes HDF5. Runs are deterministic given their configuration, so the
// results do not depend on the number of threads.
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "experiments/src/io/run_saver.hpp"
#include "experiments/src/train/run_config.hpp"
#include "experiments/src/train/trainer.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx {

// One option that takes several values; `values` are in canonical text form (option_text).
struct GridAxis {
  std::string key;
  std::vector<std::string> values;
};

// A grid holds at most this many runs: beyond, its configurations alone fill gigabytes before any run.
inline constexpr std::size_t kMaxGridRuns = 1'000'000;

// Reading a grid was given up because the user asked to (SIGINT or SIGTERM, see stop_signal.hpp).
struct GridReadStopped : UserError {
  using UserError::UserError;
};

// One block of a grid (one [grid] section of a sweep INI): the product of its axes.
struct GridBlock {
  std::string where;           // where it was given, for messages ("FILE:LINE"; empty when unnamed)
  std::vector<GridAxis> axes;  // in option-table order
};

// A sweep's grid: the union of its blocks' products (e.g. an Adam block and an SGD block, each with its own
// learning rates), each block over the same fixed settings.
struct SweepGrid {
  RunConfig base;                 // everything that is not on the grid
  std::vector<GridBlock> blocks;  // in the order given; none is one block without axes (a single run)
  std::string name_template;      // empty: default_sweep_name() over the options that vary across the sweep

  // Starts another block: the axes added next go to it. `where` names it in messages.
  void add_block(const std::string& where);
  // Adds an axis to the last block (the first one if there is none) from a list of values (separated by
  // spaces or commas). Throws UserError for an unknown option, a value of the wrong kind, a repeated
  // value, an empty list or a sweep of more than kMaxGridRuns runs; `where` names the origin.
  // GridReadStopped once stop_requested() says true.
  void add_axis(const std::string& key, const std::string& list, const std::string& where);

  // The runs: each block's product in turn, first axis (in table order) outermost, in a fixed order so
  // that shards and reruns agree on what run i is; every run named. Throws UserError when two runs get the
  // same name, or two blocks give the same run (naming both blocks).
  std::vector<RunConfig> expand() const;
  // How many runs expand() gives.
  std::size_t size() const;
  // The options whose value is not the same in every run, in table order (the settings that tell the
  // runs apart: default names list them, `sweep --dry-run` prints them).
  static std::vector<std::string> varying_keys(const std::vector<RunConfig>& runs, const std::vector<std::string>& candidates);
};

struct Shard {
  long index = 0, count = 1;  // run i belongs to shard i mod count
  static Shard parse(const std::string& text);  // "i/N"; throws UserError
};

struct SweepPlan {
  std::vector<RunConfig> to_run;      // new runs and runs to redo (interrupted)
  std::vector<std::string> skipped;   // complete (or diverged) runs already in the file
  std::vector<std::string> diverged;  // those of the skipped runs that diverged
  std::vector<std::pair<std::string, std::string>> damaged;  // runs of the file that fail validation (all
                                                             // of them, with why); this shard's are redone
  // String attributes every run of this sweep is saved with: where it came from (the INI text and the
  // command-line overrides, see io/layout.hpp), not part of its configuration.
  std::vector<std::pair<std::string, std::string>> provenance;
};

// Which runs of this shard still need running, given what the output file holds (read under its shared
// lock, waiting at most lock_timeout seconds; < 0: forever). A run of the same name whose stored
// configuration differs is refused (UserError naming the first differing option) unless `overwrite`,
// which redoes it; a damaged run is redone. If `stop` says true while it waits for the lock, throws
// io::LockWaitStopped.
SweepPlan plan_sweep(const SweepGrid& grid, const Shard& shard, const std::string& out_path, bool overwrite = false,
                     double lock_timeout = -1, const std::function<bool()>& stop = {});

struct SweepProgress {
  size_t done = 0, total = 0;
  const RunOutcome* last = nullptr;  // the run that just finished; nullptr on a periodic update
  long steps_done = 0, steps_total = 0;  // optimizer steps over all planned runs, finished or in flight
};

// Runs the plan with `jobs` worker threads, saving finished runs to `out_path` in batches (at most every
// `save_every_seconds`, and at the end). `on_progress` is called when a run finishes and about four
// times a second in between. Returns the outcomes in plan order. If a save fails, that batch and every
// later one go to a fallback file (io::RunSaver), the workers stop, and UserError says where.
std::vector<RunStatus> run_sweep(const SweepPlan& plan, const std::string& out_path, const io::SaveOptions& save_options, int jobs,
                                 const std::function<bool()>& should_stop,
                                 const std::function<void(const SweepProgress&)>& on_progress,
                                 double save_every_seconds = 2.0);

}  // namespace sbx
