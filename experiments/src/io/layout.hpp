#pragma once
// The HDF5 layout of every file the sandbox writes, defined once: the names below are spelled here and
// nowhere else, and entries() says for each group, attribute and dataset its type, its length and what it
// means. The writers (trainer, run_file, merge, sweep, theory, bench) take their names from here, the run
// validator (run_check.cpp) checks a run against entries(), `sandbox layout` prints the table (the README's
// layout table is that output) and `sandbox layout --json` dumps it for
// tests/experiments/sqrtdk/test_layout.py, which compares it with the README and with the Python reader's
// and checker's constants.
//
// A path below a section may hold placeholders in angle brackets, each standing for one name component:
// `grad_norm/<param>`, `head<i>/attn_entropy`, `<scale>/entropy_mean`. Two rows stand for a family of
// attributes defined elsewhere: `<run option>` (one attribute per row of the option table,
// experiments/src/train/option_table.cpp, which the train layer registers with register_run_options) and
// `<task attribute>` (a task's own, models/tasks.hpp).
#include <cstdint>
#include <string>
#include <vector>

namespace sbx::io::layout {

// ---- Names ---------------------------------------------------------------------------------------------

// Root attributes of every file (strings).
namespace root {
inline constexpr const char* created_utc = "created_utc";
inline constexpr const char* git_commit = "git_commit";
inline constexpr const char* sandbox_version = "sandbox_version";
inline constexpr const char* eigen_version = "eigen_version";
inline constexpr const char* hdf5_version = "hdf5_version";
inline constexpr const char* const all[] = {created_utc, git_commit, sandbox_version, eigen_version, hdf5_version};
}  // namespace root

// /runs/<name>: one group per run.
namespace run {
inline constexpr const char* group = "runs";
inline constexpr const char* group_path = "/runs";
// Attributes besides the run options and the task's own.
inline constexpr const char* config = "config";
inline constexpr const char* config_hash = "config_hash";
inline constexpr const char* status = "status";
inline constexpr const char* gradcheck_max_error = "gradcheck_max_error";
inline constexpr const char* wall_seconds = "wall_seconds";
inline constexpr const char* checksum = "checksum";
inline constexpr const char* sweep_ini = "sweep_ini";
inline constexpr const char* sweep_overrides = "sweep_overrides";
inline constexpr const char* diverged_step = "diverged_step";
inline constexpr const char* diverged_reason = "diverged_reason";
// The values of `status`.
inline constexpr const char* complete = "complete";
inline constexpr const char* interrupted = "interrupted";
inline constexpr const char* diverged = "diverged";
// The run options the layout's own rules refer to (the length rule of `step`).
inline constexpr const char* steps_option = "steps";
// Series of the training clock: one value per logged step.
inline constexpr const char* step = "step";
inline constexpr const char* loss = "loss";
inline constexpr const char* grad_norm = "grad_norm/";  // + parameter name
inline constexpr const char* logit_grad_mean = "logit_grad/mean";
inline constexpr const char* logit_grad_median = "logit_grad/median";
inline constexpr const char* saturated_fraction = "saturated_fraction";
inline constexpr const char* attn_entropy = "attn_entropy";
inline constexpr const char* attn_max = "attn_max";
inline constexpr const char* logit_std = "logit_std";
inline constexpr const char* accuracy = "accuracy";
inline constexpr const char* logit_max_abs = "logit_max_abs";
inline constexpr const char* q_grad_mean = "q_grad/mean";
inline constexpr const char* q_grad_median = "q_grad/median";
inline constexpr const char* logit_grad_zero_fraction = "logit_grad/zero_fraction";
inline constexpr const char* top_weight_one_fraction = "top_weight_one_fraction";
inline constexpr const char* logit_delta_rms = "logit_delta_rms";
inline constexpr const char* lr = "lr";
inline constexpr const char* scale = "scale";
// The language model's (--model lm): per block b, block<b>/ + logit_max_abs, attn_entropy, saturated_fraction,
// logit_grad/median; the whole model's gradient norm; the output logits' mean.
inline constexpr const char* grad_norm_total = "grad_norm_total";
inline constexpr const char* output_logit_mean = "output_logit_mean";
inline constexpr const char* vocabulary = "vocabulary";
// Series of the evaluation clock.
inline constexpr const char* eval_step = "eval/step";
inline constexpr const char* eval_loss = "eval/loss";
inline constexpr const char* eval_accuracy = "eval/accuracy";
inline constexpr const char* eval_bits_per_char = "eval/bits_per_char";
inline constexpr const char* eval_prefix = "eval/";
// Matrix groups (one 2-D dataset per parameter).
inline constexpr const char* params_init = "params_init";
inline constexpr const char* params = "params";

std::string path(const std::string& run_name);        // "/runs/<name>"
std::string grad_norm_of(const std::string& param);   // "grad_norm/W_Q"
std::string head_series(long head, const char* series);  // "head2/attn_entropy"
std::string block_series(long block, const char* series);  // "block1/logit_max_abs"
std::string block_head_series(long block, long head, const char* series);  // "block1/head2/attn_entropy"
}  // namespace run

// /theory (sandbox theory).
namespace theory {
inline constexpr const char* group = "theory";
inline constexpr const char* keys = "keys";
inline constexpr const char* samples = "samples";
inline constexpr const char* rows = "rows";
inline constexpr const char* seed = "seed";
inline constexpr const char* description = "description";
inline constexpr const char* d_k = "d_k";
inline constexpr const char* var_qk = "var_qk";
inline constexpr const char* var_qk_scaled = "var_qk_scaled";
// Below /theory/<scale>/ for each scale none, sqrt, linear.
inline constexpr const char* max_weight_mean = "max_weight_mean";
inline constexpr const char* max_weight_median = "max_weight_median";
inline constexpr const char* entropy_mean = "entropy_mean";
inline constexpr const char* saturated_fraction = "saturated_fraction";
inline constexpr const char* jacobian_norm_mean = "jacobian_norm_mean";
inline constexpr const char* jacobian_norm_median = "jacobian_norm_median";
inline constexpr const char* logit_grad_mean = "logit_grad_mean";
inline constexpr const char* logit_grad_median = "logit_grad_median";
std::string per_scale(const std::string& scale, const char* series);  // "sqrt/entropy_mean"
}  // namespace theory

// /bench (sandbox bench --out).
namespace bench {
inline constexpr const char* group = "bench";
// One value per benchmarked shape.
inline constexpr const char* batch = "batch";
inline constexpr const char* seq_len = "seq_len";
inline constexpr const char* d_model = "d_model";
inline constexpr const char* d_k = "d_k";
inline constexpr const char* flops = "flops";
inline constexpr const char* engine_us = "engine_us";
inline constexpr const char* reference_us = "reference_us";
inline constexpr const char* ratio = "ratio";
inline constexpr const char* engine_full_us = "engine_full_us";
inline constexpr const char* reference_full_us = "reference_full_us";
inline constexpr const char* ratio_full = "ratio_full";
inline constexpr const char* batch_us = "batch_us";
inline constexpr const char* gflops = "gflops";
inline constexpr const char* reference_gflops = "reference_gflops";
inline constexpr const char* gemm_fraction = "gemm_fraction";
inline constexpr const char* allocations_per_step = "allocations_per_step";
inline constexpr const char* engine_step_allocations_per_step = "engine_step_allocations_per_step";
inline constexpr const char* reference_allocations_per_step = "reference_allocations_per_step";
// Attributes.
inline constexpr const char* gemm_gflops = "gemm_gflops";
inline constexpr const char* gemm_size = "gemm_size";
inline constexpr const char* peak_rss_kib = "peak_rss_kib";
inline constexpr const char* lowest_cpu_share = "lowest_cpu_share";
inline constexpr const char* repeats = "repeats";
inline constexpr const char* block_seconds = "block_seconds";
inline constexpr const char* quick = "quick";
inline constexpr const char* heads_shape = "heads_shape";
inline constexpr const char* heads = "heads";
inline constexpr const char* heads_us_per_step = "heads_us_per_step";
inline constexpr const char* heads_allocations_per_step = "heads_allocations_per_step";
inline constexpr const char* heads_logged_allocations_per_step = "heads_logged_allocations_per_step";
inline constexpr const char* threads_shape = "threads_shape";
inline constexpr const char* threads = "threads";
inline constexpr const char* threads_one_us = "threads_one_us";
inline constexpr const char* threads_team_us = "threads_team_us";
inline constexpr const char* threads_logged_one_us = "threads_logged_one_us";
inline constexpr const char* threads_logged_team_us = "threads_logged_team_us";
inline constexpr const char* threads_same_bits = "threads_same_bits";
inline constexpr const char* timing = "timing";
inline constexpr const char* engine_us_includes = "engine_us_includes";
inline constexpr const char* engine_full_us_includes = "engine_full_us_includes";
inline constexpr const char* flops_formula = "flops_formula";
inline constexpr const char* allocations_counted = "allocations_counted";
inline constexpr const char* target_ratio_holds = "target_ratio_holds";
inline constexpr const char* target_zero_allocations_holds = "target_zero_allocations_holds";
inline constexpr const char* target_gemm_fraction_holds = "target_gemm_fraction_holds";
// /bench/scaling_<variable> (variable n or d_k): one value per point.
inline constexpr const char* scaling_prefix = "scaling_";
inline constexpr const char* engine_exponent = "engine_exponent";
inline constexpr const char* reference_exponent = "reference_exponent";
inline constexpr const char* flop_exponent = "flop_exponent";
}  // namespace bench

// ---- The table -----------------------------------------------------------------------------------------

enum class Kind { Attribute, Dataset };
// Scalar: the type of the option's field (int64 for integers and flags, float64 for reals, str for words).
enum class Type { Str, Int64, Float64, Scalar };
// How many values: One (a scalar attribute), Logged (one per logged training step, as long as `step`),
// Evaluations (as long as `eval/step`), Matrix (a 2-D (rows, cols) matrix), DkValues (one per d_k of
// /theory/d_k), Shapes (one per benchmarked shape, as long as /bench/batch), Points (one per point of a
// scaling sweep).
enum class Length { One, Logged, Evaluations, Matrix, DkValues, Shapes, Points };
// What a run attribute is, for readers comparing runs: a Setting (runs that differ in it are different
// configurations), an Outcome (differs between runs of one configuration), Derived (from the settings:
// the configuration text and its hash) or Provenance (where the run came from, e.g. the sweep's INI).
// Datasets and the attributes of /theory and /bench are Data.
enum class Role { Setting, Outcome, Derived, Provenance, Data };

struct Entry {
  std::string section;  // "/", "/runs/<name>", "/theory", "/bench", "/bench/scaling_<variable>"
  std::string path;     // below the section
  Kind kind;
  Type type;
  Length length;
  std::string when;     // "": always there; otherwise when it is
  std::string meaning;
  Role role = Role::Data;
  // false for what was added after the first run files were written: files of older versions lack it, so
  // the validator checks it only when it is there (an older run is not damaged for lacking it).
  bool every_version = true;
};

inline constexpr const char* kRootSection = "/";
inline constexpr const char* kRunSection = "/runs/<name>";
inline constexpr const char* kTheorySection = "/theory";
inline constexpr const char* kBenchSection = "/bench";
inline constexpr const char* kScalingSection = "/bench/scaling_<variable>";
inline constexpr const char* kRunOptionRow = "<run option>";
inline constexpr const char* kTaskAttributeRow = "<task attribute>";

// Every entry, in the order of the README's table.
const std::vector<Entry>& entries();

// The entry of `section` whose path matches `name` (placeholders match one non-empty name component);
// nullptr if none does. The `<run option>` and `<task attribute>` rows match nothing.
const Entry* find(const std::string& section, const std::string& name, Kind kind);

const char* kind_name(Kind kind);      // "attribute", "dataset"
const char* type_name(Type type);      // "str", "int64", "float64", "per option"
const char* length_name(Length length);  // "1", "step", "eval/step", "(rows, cols)", "d_k", "shapes", "points"
const char* role_name(Role role);      // "setting", "outcome", "derived", "provenance", "data"

// The run options' attributes (name and type), registered by the layer that owns the option table so that
// this layer (the validator, `sandbox layout`) can name them without depending on it. Empty until then.
// The validator checks each one present for its type, int64 >= 0 and float64 finite (older versions had
// fewer options, so only `steps`, which the layout's rules need, is required).
struct OptionAttribute {
  std::string name;
  Type type;  // Str, Int64 or Float64
};
void register_run_options(std::vector<OptionAttribute> options);
const std::vector<OptionAttribute>& run_options();

}  // namespace sbx::io::layout
