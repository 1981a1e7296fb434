#include "experiments/src/io/layout.hpp"

#include <utility>

namespace sbx::io::layout {

std::string run::path(const std::string& run_name) { return std::string("/") + group + "/" + run_name; }
std::string run::grad_norm_of(const std::string& param) { return grad_norm + param; }
std::string run::head_series(long head, const char* series) { return "head" + std::to_string(head) + "/" + series; }
std::string run::block_series(long block, const char* series) { return "block" + std::to_string(block) + "/" + series; }
std::string run::block_head_series(long block, long head, const char* series) {
  return "block" + std::to_string(block) + "/head" + std::to_string(head) + "/" + series;
}
std::string theory::per_scale(const std::string& scale, const char* series) { return scale + "/" + series; }

namespace {

using K = Kind;
using T = Type;
using L = Length;
using R = Role;

std::string s(const char* name) { return name; }

std::vector<Entry> make_table() {
  const std::string head_i = "head<i>/";
  const std::string scale_ = "<scale>/";
  std::vector<Entry> t;
  // Rows with `t.back().every_version = false` after them: added after the first files were written.
  auto add = [&](const char* section, std::string path, K kind, T type, L length, const char* when, const char* meaning,
                 R role = R::Data) { t.push_back({section, std::move(path), kind, type, length, when, meaning, role}); };

  // ---- Root attributes of every file
  const char* rs = kRootSection;
  add(rs, s(root::created_utc), K::Attribute, T::Str, L::One, "", "when the file was first written, YYYY-MM-DDTHH:MM:SSZ (kept by later edits)");
  add(rs, s(root::git_commit), K::Attribute, T::Str, L::One, "", "commit of the sandbox that last wrote the file");
  add(rs, s(root::sandbox_version), K::Attribute, T::Str, L::One, "", "version x.y.z of that sandbox");
  add(rs, s(root::eigen_version), K::Attribute, T::Str, L::One, "", "Eigen version x.y.z it was built with");
  add(rs, s(root::hdf5_version), K::Attribute, T::Str, L::One, "", "HDF5 version x.y.z it was built with");

  // ---- /runs/<name>: attributes
  const char* r = kRunSection;
  add(r, kRunOptionRow, K::Attribute, T::Scalar, L::One, "",
      "one per run option, under the option's attribute name, resolved (d_k, d_v per head, never auto): see option_table.cpp or `sandbox train --help`; flags are 0/1",
      R::Setting);
  add(r, kTaskAttributeRow, K::Attribute, T::Float64, L::One, "the task has any",
      "the task's own (lookup: lookup_keys, the key vocabulary; lookup_values; chance_accuracy, 1/lookup_values; text: unigram_entropy_bits, the corpus's unigram entropy; vocab_size; corpus_chars)", R::Setting);
  add(r, s(run::config), K::Attribute, T::Str, L::One, "", "the canonical configuration text, one `key = value` line per option (`sandbox train --config` reads it)", R::Derived);
  t.back().every_version = false;
  add(r, s(run::config_hash), K::Attribute, T::Str, L::One, "", "16 hex digits of the 64-bit FNV-1a hash of config (a run whose config does not match it is damaged)", R::Derived);
  t.back().every_version = false;
  add(r, s(run::status), K::Attribute, T::Str, L::One, "", "complete, interrupted or diverged", R::Outcome);
  add(r, s(run::gradcheck_max_error), K::Attribute, T::Float64, L::One, "", "largest gradient-check error of the run's model on small shapes (NaN: not checked)", R::Outcome);
  add(r, s(run::wall_seconds), K::Attribute, T::Float64, L::One, "", "time of the training loop", R::Outcome);
  add(r, s(run::diverged_step), K::Attribute, T::Int64, L::One, "status is diverged",
      "the step at which the training loss became non-finite or exceeded diverge_factor times its first value", R::Outcome);
  t.back().every_version = false;
  add(r, s(run::diverged_reason), K::Attribute, T::Str, L::One, "status is diverged", "what diverged, e.g. `loss 3.2e+05 > 100 x the first loss 0.51`", R::Outcome);
  add(r, s(run::checksum), K::Attribute, T::Str, L::One, "",
      "8 hex digits: CRC-32 of the run's attributes, series and matrices, over the bytes results/README.md defines; a run that does not match it is damaged", R::Outcome);
  t.back().every_version = false;
  add(r, s(run::sweep_ini), K::Attribute, T::Str, L::One, "written by sandbox sweep", "the sweep's INI file as read", R::Provenance);
  add(r, s(run::sweep_overrides), K::Attribute, T::Str, L::One, "written by sandbox sweep",
      "the sweep's command-line overrides, one `--grid.KEY=VALUE` or `--run.KEY=VALUE` per line (empty: none)", R::Provenance);
  add(r, s(run::vocabulary), K::Attribute, T::Str, L::One, "model lm", "the characters of task text's vocabulary, token by token, as byte values separated by spaces", R::Setting);
  t.back().every_version = false;

  // ---- /runs/<name>: series of the training clock. Entry i is measured on step i's batch with the
  // parameters before the i-th update (entry 0: at initialisation).
  add(r, s(run::step), K::Dataset, T::Int64, L::Logged, "", "the step each entry was logged at: 0, log_every, 2·log_every, …, steps−1 (strictly increasing, below steps)");
  add(r, s(run::loss), K::Dataset, T::Float64, L::Logged, "", "training loss on the step's batch (finite)");
  add(r, std::string(run::grad_norm) + "<param>", K::Dataset, T::Float64, L::Logged, "", "Frobenius norm of the gradient of each parameter (W_Q, W_K, W_V; W_O and scale when the model has them)");
  add(r, s(run::logit_grad_mean), K::Dataset, T::Float64, L::Logged, "", "mean of ‖∂L/∂S‖ per query row (the gradient through the softmax), over the rows that reach the loss: every row for teacher, the labelled row for recall, sense and lookup");
  add(r, s(run::logit_grad_median), K::Dataset, T::Float64, L::Logged, "", "median of the same");
  add(r, s(run::saturated_fraction), K::Dataset, T::Float64, L::Logged, "", "share of rows whose largest attention weight exceeds 0.99");
  add(r, s(run::attn_entropy), K::Dataset, T::Float64, L::Logged, "", "mean over rows of the attention entropy (nats)");
  add(r, s(run::attn_max), K::Dataset, T::Float64, L::Logged, "", "mean over rows of the largest attention weight");
  add(r, s(run::logit_std), K::Dataset, T::Float64, L::Logged, "", "standard deviation of the scaled logits S over the entries a query sees");
  add(r, s(run::accuracy), K::Dataset, T::Float64, L::Logged, "classification tasks", "accuracy on the training batch");
  add(r, s(run::logit_max_abs), K::Dataset, T::Float64, L::Logged, "", "largest |S| over the entries a query sees");
  t.back().every_version = false;
  add(r, s(run::q_grad_mean), K::Dataset, T::Float64, L::Logged, "", "mean of ‖∂L/∂q‖ per query row and head (q: a head's d_k-wide slice of X W^Q, before any QK-norm) over the rows that reach the loss; in the space the weights move in, so it compares across scale modes");
  t.back().every_version = false;
  add(r, s(run::q_grad_median), K::Dataset, T::Float64, L::Logged, "", "median of the same");
  t.back().every_version = false;
  add(r, s(run::logit_grad_zero_fraction), K::Dataset, T::Float64, L::Logged, "",
      "share of the rows that reach the loss whose ‖∂L/∂S_row‖ is exactly 0 in the run's precision (the gradient through the softmax vanished, not just small; not logged by --model lm)");
  t.back().every_version = false;
  add(r, s(run::top_weight_one_fraction), K::Dataset, T::Float64, L::Logged, "",
      "share of the same rows whose largest attention weight is exactly 1 in the run's precision (rounded to one-hot; not logged by --model lm)");
  t.back().every_version = false;
  add(r, head_i + run::saturated_fraction, K::Dataset, T::Float64, L::Logged, "heads > 1", "saturated_fraction over head i's rows alone (i = 0 … heads−1)");
  add(r, head_i + run::attn_entropy, K::Dataset, T::Float64, L::Logged, "heads > 1", "attn_entropy over head i's rows alone");
  add(r, s(run::logit_delta_rms), K::Dataset, T::Float64, L::Logged, "",
      "rms over visible entries of S after the step's update minus S before it, on the step's batch (in a "
      "diverged run the last one may be infinite: that update sent S there)");
  t.back().every_version = false;
  add(r, s(run::lr), K::Dataset, T::Float64, L::Logged, "", "learning rate of the step's update");
  t.back().every_version = false;
  add(r, s(run::scale), K::Dataset, T::Float64, L::Logged, "scale learned or qknorm", "the learned logit scale exp θ");
  // The language model's (every_version false: added with it).
  const std::string block_b = "block<b>/";
  for (const auto& [path, meaning] : {std::pair{block_b + run::logit_max_abs, "logit_max_abs over block b's attention alone (b = 0 … layers−1): Wortsman et al.'s early warning"},
                                      std::pair{block_b + run::attn_entropy, "attn_entropy over block b's rows (all heads)"},
                                      std::pair{block_b + run::saturated_fraction, "saturated_fraction over block b's rows"},
                                      std::pair{block_b + run::logit_grad_median, "median over block b's rows of ‖∂L/∂S_row‖"},
                                      std::pair{std::string(run::grad_norm_total), "Frobenius norm of the whole model's gradient"},
                                      std::pair{std::string(run::output_logit_mean), "mean of the output logits on the step's batch"}}) {
    add(r, path, K::Dataset, T::Float64, L::Logged, "model lm", meaning);
    t.back().every_version = false;
  }
  const std::string block_head = "block<b>/head<i>/";
  for (const char* series : {run::logit_max_abs, run::attn_entropy, run::saturated_fraction, run::logit_grad_median}) {
    add(r, block_head + series, K::Dataset, T::Float64, L::Logged, "model lm, heads > 1",
        (std::string(series) + " over head i's rows of block b alone").c_str());
    t.back().every_version = false;
  }
  // ---- /runs/<name>: the held-out evaluation, on its own clock.
  add(r, s(run::eval_step), K::Dataset, T::Int64, L::Evaluations, "", "updates before each evaluation: 0, every eval_every, and the last step count (strictly increasing, at most steps)");
  t.back().every_version = false;
  add(r, s(run::eval_loss), K::Dataset, T::Float64, L::Evaluations, "", "mean loss over the evaluation batches");
  t.back().every_version = false;
  add(r, s(run::eval_accuracy), K::Dataset, T::Float64, L::Evaluations, "classification tasks", "accuracy over all labelled rows of the evaluation set");
  add(r, s(run::eval_bits_per_char), K::Dataset, T::Float64, L::Evaluations, "model lm", "eval/loss in bits per character (÷ ln 2), to set beside the attribute unigram_entropy_bits");
  t.back().every_version = false;
  // ---- /runs/<name>: parameters.
  add(r, std::string(run::params_init) + "/<param>", K::Dataset, T::Float64, L::Matrix, "", "each parameter at initialisation, as (rows, cols) of the matrix");
  t.back().every_version = false;
  add(r, std::string(run::params) + "/<param>", K::Dataset, T::Float64, L::Matrix, "", "each parameter at the end (finite for complete runs)");
  t.back().every_version = false;

  // ---- /theory
  const char* th = kTheorySection;
  add(th, s(theory::keys), K::Attribute, T::Int64, L::One, "", "keys per row of logits");
  add(th, s(theory::samples), K::Attribute, T::Int64, L::One, "", "(q, k) pairs behind var_qk");
  add(th, s(theory::rows), K::Attribute, T::Int64, L::One, "", "rows of logits behind each <scale>/ statistic");
  add(th, s(theory::seed), K::Attribute, T::Int64, L::One, "", "seed of the Monte Carlo draws");
  add(th, s(theory::description), K::Attribute, T::Str, L::One, "", "what was measured, in words");
  add(th, s(theory::d_k), K::Dataset, T::Int64, L::DkValues, "", "the d_k values measured");
  add(th, s(theory::var_qk), K::Dataset, T::Float64, L::DkValues, "", "sample variance of q·k, q, k ~ N(0, I)");
  add(th, s(theory::var_qk_scaled), K::Dataset, T::Float64, L::DkValues, "", "sample variance of q·k/√d_k");
  add(th, scale_ + theory::max_weight_mean, K::Dataset, T::Float64, L::DkValues, "", "per scale none, sqrt, linear: mean largest softmax weight of a row");
  add(th, scale_ + theory::max_weight_median, K::Dataset, T::Float64, L::DkValues, "", "median of the same");
  add(th, scale_ + theory::entropy_mean, K::Dataset, T::Float64, L::DkValues, "", "mean row entropy (nats)");
  add(th, scale_ + theory::saturated_fraction, K::Dataset, T::Float64, L::DkValues, "", "share of rows whose largest weight exceeds 0.99");
  add(th, scale_ + theory::jacobian_norm_mean, K::Dataset, T::Float64, L::DkValues, "", "mean Frobenius norm of the softmax Jacobian diag(p) − ppᵀ");
  add(th, scale_ + theory::jacobian_norm_median, K::Dataset, T::Float64, L::DkValues, "", "median of the same");
  add(th, scale_ + theory::logit_grad_mean, K::Dataset, T::Float64, L::DkValues, "", "mean ‖(diag(p) − ppᵀ) g‖, g ~ N(0, I), from the engine's backward pass");
  add(th, scale_ + theory::logit_grad_median, K::Dataset, T::Float64, L::DkValues, "", "median of the same");

  // ---- /bench
  const char* b = kBenchSection;
  add(b, s(bench::batch), K::Dataset, T::Int64, L::Shapes, "", "batch of each benchmarked shape");
  add(b, s(bench::seq_len), K::Dataset, T::Int64, L::Shapes, "", "sequence length n");
  add(b, s(bench::d_model), K::Dataset, T::Int64, L::Shapes, "", "model width");
  add(b, s(bench::d_k), K::Dataset, T::Int64, L::Shapes, "", "query/key width");
  add(b, s(bench::flops), K::Dataset, T::Float64, L::Shapes, "", "matrix-product FLOPs per step (flops_formula)");
  add(b, s(bench::engine_us), K::Dataset, T::Float64, L::Shapes, "", "engine µs per step, batch generated beforehand");
  add(b, s(bench::reference_us), K::Dataset, T::Float64, L::Shapes, "", "hand-derived Eigen reference, µs per step");
  add(b, s(bench::ratio), K::Dataset, T::Float64, L::Shapes, "", "engine_us / reference_us");
  add(b, s(bench::engine_full_us), K::Dataset, T::Float64, L::Shapes, "", "the whole TrainingStep::run, µs per step (with next_batch)");
  add(b, s(bench::reference_full_us), K::Dataset, T::Float64, L::Shapes, "", "the reference with next_batch, µs per step");
  add(b, s(bench::ratio_full), K::Dataset, T::Float64, L::Shapes, "", "engine_full_us / reference_full_us");
  add(b, s(bench::batch_us), K::Dataset, T::Float64, L::Shapes, "", "next_batch alone, µs");
  add(b, s(bench::gflops), K::Dataset, T::Float64, L::Shapes, "", "engine GFLOP/s (flops / engine_us)");
  add(b, s(bench::reference_gflops), K::Dataset, T::Float64, L::Shapes, "", "reference GFLOP/s");
  add(b, s(bench::gemm_fraction), K::Dataset, T::Float64, L::Shapes, "", "gflops / gemm_gflops");
  add(b, s(bench::allocations_per_step), K::Dataset, T::Float64, L::Shapes, "", "heap allocations per full step after warm-up");
  add(b, s(bench::engine_step_allocations_per_step), K::Dataset, T::Float64, L::Shapes, "", "the same without next_batch");
  add(b, s(bench::reference_allocations_per_step), K::Dataset, T::Float64, L::Shapes, "", "the reference's allocations per step");
  add(b, s(bench::gemm_gflops), K::Attribute, T::Float64, L::One, "", "the machine's GEMM rate, GFLOP/s");
  add(b, s(bench::gemm_size), K::Attribute, T::Int64, L::One, "", "size of the square product behind gemm_gflops");
  add(b, s(bench::peak_rss_kib), K::Attribute, T::Int64, L::One, "", "peak resident memory, KiB");
  add(b, s(bench::lowest_cpu_share), K::Attribute, T::Float64, L::One, "", "lowest thread CPU time / wall time while timing");
  add(b, s(bench::repeats), K::Attribute, T::Int64, L::One, "", "repeats behind each median");
  add(b, s(bench::block_seconds), K::Attribute, T::Float64, L::One, "", "length of one timed block of steps, s");
  add(b, s(bench::quick), K::Attribute, T::Int64, L::One, "", "1 for --quick");
  add(b, s(bench::heads_shape), K::Attribute, T::Str, L::One, "a multi-head shape was timed", "the multi-head shape, BxNxDMxDK");
  add(b, s(bench::heads), K::Attribute, T::Int64, L::One, "a multi-head shape was timed", "its heads");
  add(b, s(bench::heads_us_per_step), K::Attribute, T::Float64, L::One, "a multi-head shape was timed", "its full step, µs");
  add(b, s(bench::heads_allocations_per_step), K::Attribute, T::Float64, L::One, "a multi-head shape was timed", "its allocations per step");
  add(b, s(bench::heads_logged_allocations_per_step), K::Attribute, T::Float64, L::One, "a multi-head shape was timed", "the same on a logged step");
  add(b, s(bench::threads_shape), K::Attribute, T::Str, L::One, "--threads", "the shape timed with threads, BxNxDMxDK (the first of bench --threads)");
  add(b, s(bench::threads), K::Attribute, T::Int64, L::One, "--threads", "threads in the team");
  add(b, s(bench::threads_one_us), K::Attribute, T::Float64, L::One, "--threads", "its step (batch made beforehand) with one thread, µs");
  add(b, s(bench::threads_team_us), K::Attribute, T::Float64, L::One, "--threads", "the same with the team, µs");
  add(b, s(bench::threads_logged_one_us), K::Attribute, T::Float64, L::One, "--threads", "its logged step with one thread, µs");
  add(b, s(bench::threads_logged_team_us), K::Attribute, T::Float64, L::One, "--threads", "the same with the team, µs");
  add(b, s(bench::threads_same_bits), K::Attribute, T::Int64, L::One, "--threads", "1 if the team's parameters after 3 steps equal one thread's bit for bit");
  add(b, s(bench::timing), K::Attribute, T::Str, L::One, "", "how times are measured, in words");
  add(b, s(bench::engine_us_includes), K::Attribute, T::Str, L::One, "", "what engine_us covers, in words");
  add(b, s(bench::engine_full_us_includes), K::Attribute, T::Str, L::One, "", "what engine_full_us covers, in words");
  add(b, s(bench::flops_formula), K::Attribute, T::Str, L::One, "", "the FLOP count, as a formula");
  add(b, s(bench::allocations_counted), K::Attribute, T::Str, L::One, "", "which allocation functions were counted");
  add(b, s(root::sandbox_version), K::Attribute, T::Str, L::One, "", "as the root attribute, for this measurement");
  add(b, s(root::git_commit), K::Attribute, T::Str, L::One, "", "as the root attribute, for this measurement");
  add(b, s(root::eigen_version), K::Attribute, T::Str, L::One, "", "as the root attribute, for this measurement");
  add(b, s(bench::target_ratio_holds), K::Attribute, T::Int64, L::One, "", "1 if engine/reference ≤ the target at every shape");
  add(b, s(bench::target_zero_allocations_holds), K::Attribute, T::Int64, L::One, "", "1 if a warmed-up step allocates nothing");
  add(b, s(bench::target_gemm_fraction_holds), K::Attribute, T::Int64, L::One, "", "1 if the largest shape reaches the target share of gemm_gflops");
  const char* sc = kScalingSection;
  add(sc, "<variable>", K::Dataset, T::Int64, L::Points, "--scaling", "the value swept, seq_len (variable n) or d_k");
  add(sc, s(bench::flops), K::Dataset, T::Float64, L::Points, "--scaling", "FLOPs per step at each point");
  add(sc, s(bench::engine_us), K::Dataset, T::Float64, L::Points, "--scaling", "engine µs per step");
  add(sc, s(bench::reference_us), K::Dataset, T::Float64, L::Points, "--scaling", "reference µs per step");
  add(sc, s(bench::batch), K::Attribute, T::Int64, L::One, "--scaling", "the fixed batch");
  add(sc, s(bench::d_model), K::Attribute, T::Int64, L::One, "--scaling", "the fixed model width");
  add(sc, "<fixed>", K::Attribute, T::Int64, L::One, "--scaling", "the other of seq_len and d_k, held fixed");
  add(sc, s(bench::engine_exponent), K::Attribute, T::Float64, L::One, "--scaling", "fitted exponent of engine time vs the variable (log-log least squares)");
  add(sc, s(bench::reference_exponent), K::Attribute, T::Float64, L::One, "--scaling", "the same for the reference");
  add(sc, s(bench::flop_exponent), K::Attribute, T::Float64, L::One, "--scaling", "the same for the FLOP count");
  return t;
}

// Whether `name` matches `pattern`, where each <...> stands for one non-empty component (no '/').
bool matches(const std::string& pattern, const std::string& name) {
  std::size_t p = 0, n = 0;
  while (p < pattern.size()) {
    if (pattern[p] == '<') {
      const std::size_t close = pattern.find('>', p);
      const std::string rest = pattern.substr(close + 1);
      const char stop = rest.empty() ? '\0' : rest[0];
      const std::size_t start = n;
      while (n < name.size() && name[n] != '/' && name[n] != stop) ++n;
      if (n == start) return false;
      p = close + 1;
      continue;
    }
    if (n >= name.size() || pattern[p] != name[n]) return false;
    ++p, ++n;
  }
  return n == name.size();
}

std::vector<OptionAttribute>& option_registry() {
  static std::vector<OptionAttribute> options;
  return options;
}

}  // namespace

const std::vector<Entry>& entries() {
  static const std::vector<Entry> table = make_table();
  return table;
}

const Entry* find(const std::string& section, const std::string& name, Kind kind) {
  for (const Entry& e : entries())  // an exact name first: it wins over a pattern ("<variable>")
    if (e.section == section && e.kind == kind && e.path == name) return &e;
  for (const Entry& e : entries())
    if (e.section == section && e.kind == kind && e.path != kRunOptionRow && e.path != kTaskAttributeRow && matches(e.path, name))
      return &e;
  return nullptr;
}

const char* kind_name(Kind kind) { return kind == Kind::Attribute ? "attribute" : "dataset"; }

const char* type_name(Type type) {
  switch (type) {
    case Type::Str: return "str";
    case Type::Int64: return "int64";
    case Type::Float64: return "float64";
    case Type::Scalar: return "per option";
  }
  return "?";
}

const char* length_name(Length length) {
  switch (length) {
    case Length::One: return "1";
    case Length::Logged: return "step";
    case Length::Evaluations: return "eval/step";
    case Length::Matrix: return "(rows, cols)";
    case Length::DkValues: return "d_k";
    case Length::Shapes: return "shapes";
    case Length::Points: return "points";
  }
  return "?";
}

const char* role_name(Role role) {
  switch (role) {
    case Role::Setting: return "setting";
    case Role::Outcome: return "outcome";
    case Role::Derived: return "derived";
    case Role::Provenance: return "provenance";
    case Role::Data: return "data";
  }
  return "?";
}

void register_run_options(std::vector<OptionAttribute> options) { option_registry() = std::move(options); }
const std::vector<OptionAttribute>& run_options() { return option_registry(); }

}  // namespace sbx::io::layout
