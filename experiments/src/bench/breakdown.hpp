#pragma once
// `sandbox bench --breakdown`: where a study run's time goes. Each group of configurations is trained the
// way `sandbox sweep` trains it (one thread per run, the sweep's shared gradient checks), with every
// phase timed (sbx::RunProfile), and the finished runs are then saved to a scratch file, timed too.
#include <cstdio>
#include <string>
#include <vector>

#include "experiments/src/train/run_config.hpp"
#include "experiments/src/train/run_profile.hpp"

namespace sbx::bench {

struct BreakdownGroup {
  std::string label;
  std::vector<RunConfig> runs;
};

struct BreakdownRow {
  std::string label;
  RunProfile profile;        // summed over the group's runs
  double save_seconds = 0.0;  // saving the group's runs to an HDF5 file in one batch
};

// The study's shapes (experiments/sqrt_dk.ini: d_model 32, n 16, batch 16, 200 steps, Adam, every step
// logged) at d_k 8, 32 and 256 on both tasks, each over the five scale modes, and the multi-head form of
// the revised study (d_model 64, 4 heads of d_k 16, d_v 16). `quick`: 20 steps instead of 200.
std::vector<BreakdownGroup> study_breakdown_groups(bool quick);
// A sweep's runs grouped by task and d_k (in grid order).
std::vector<BreakdownGroup> group_by_task_and_dk(const std::vector<RunConfig>& runs);

std::vector<BreakdownRow> run_breakdown(const std::vector<BreakdownGroup>& groups);
// A table of µs per run by phase, and the runs per second of one thread.
void print_breakdown(std::FILE* out, const std::vector<BreakdownRow>& rows);

}  // namespace sbx::bench
