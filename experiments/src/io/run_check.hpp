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
// Checks against the layout table (io/layout.hpp): the group opens; every attribute reads as a scalar str,
// int64 or float64; the table's attributes (required ones always, optional ones when present) and one per
// run option have their types, option integers >= 0 and option reals finite, wall_seconds finite; status
// is complete/interrupted/diverged; step and eval/step are 1-D integer clocks, strictly increasing within
// 0..steps-1 (ending at steps-1 when complete) and 0..steps; every dataset the table requires is there;
// every dataset has the table's type and is 1-D of its clock's length (a dataset the table does not name:
// float64 of step's length, or of eval/step's under eval/) or a 2-D matrix (params/, params_init/, finite
// for complete runs); loss is finite.
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
