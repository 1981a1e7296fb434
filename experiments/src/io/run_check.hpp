#pragma once
// Validation of the runs in a run file before the file is used (merge input, sweep resume, an existing
// --out), and loading a validated run back into a RunRecord. A damaged file (a flipped bit, a truncated
// chunk, a dataset of the wrong type) must never crash the program or be copied on: every check reads
// through H5Reader, which turns every HDF5 failure into a UserError, and everything the layout requires
// is read in full (so damaged compressed chunks are found too).
#include <string>
#include <utility>
#include <vector>

#include "experiments/src/io/h5_store.hpp"
#include "experiments/src/io/run_file.hpp"

namespace sbx::io {

// "" if /runs/<name> is a whole run; otherwise what is wrong, one short phrase
// ("dataset loss has 7 values but step has 9", "attribute lr is not finite", "cannot be opened").
// Checks: the group opens; the attributes of the layout exist with their types (strings, int64, float64),
// sizes are positive, lr/init_std/wall_seconds finite, status is complete/interrupted/diverged; step is a
// 1-D integer series, strictly increasing from 0 and below `steps` (ending at steps-1 when complete); every
// other series (loss, grad_norm/*, logit_grad/*, ...) 1-D float of step's length, loss finite; params and
// params_init hold 2-D float matrices (finite for complete runs).
std::string run_problem(const H5Reader& file, const std::string& name);

// The names under /runs (every link, including ones that no longer open) with their problems, damaged
// ones only. Throws UserError if /runs itself cannot be listed.
std::vector<std::pair<std::string, std::string>> damaged_runs(const H5Reader& file);

// The same for a file on disk, validated in child processes: damage that crashes the HDF5 library itself
// marks the run being read as damaged ("reading it crashes the HDF5 library") instead of killing us.
// Throws UserError if the file or its /runs cannot be read at all.
std::vector<std::pair<std::string, std::string>> damaged_runs(const std::string& path);

// A validated run read back (attributes of any scalar string/int/float type, series, matrices), to be
// written with write_run_group: never HDF5's object copy, which trusts the source file's metadata.
RunRecord load_run(const H5Reader& file, const std::string& name);

// Throws UserError naming the first damaged run of an existing run file (train refuses such an --out
// before training; `sandbox merge --skip-damaged NEW OLD` rescues the other runs).
void refuse_damaged_runs(const std::string& path);

}  // namespace sbx::io
