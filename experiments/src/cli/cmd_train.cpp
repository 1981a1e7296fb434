// `sandbox train`: one run, logged into an HDF5 file under /runs/<name>.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>

#include "autodiff/workers.hpp"
#include "experiments/src/cli/progress_line.hpp"
#include "experiments/src/cli/run_options.hpp"
#include "experiments/src/io/layout.hpp"
#include "experiments/src/io/run_check.hpp"
#include "experiments/src/io/run_file.hpp"
#include "experiments/src/train/run_identity.hpp"
#include "experiments/src/io/run_saver.hpp"
#include "experiments/src/train/stop_signal.hpp"
#include "experiments/src/train/trainer.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::cli {
namespace {

// Refuses a name the file already holds, unless it is to be overwritten; a different configuration is
// named by its first differing option.
void check_name_is_free(const std::string& out, const RunConfig& config) {
  for (const io::StoredRun& stored : io::stored_runs(out)) {
    if (stored.name != config.name()) continue;
    if (const auto conflict = identity_conflict(out, stored, config_text(config))) throw UserError(*conflict);
    throw UserError(out + ": run '" + stored.name + "' is already in the file with the same configuration (use --overwrite to redo it)");
  }
}

}  // namespace

int run_train(const Args& args) {
  std::string out, config_file, name;
  bool overwrite = false, progress = false;
  long threads = 1;
  io::SaveOptions save_options;
  po::options_description options("train options");
  add_run_options(options);
  options.add_options()
      ("out", po::value(&out), "HDF5 file to add the run to (created if missing)")
      ("name", po::value(&name), "run name, or a template of {option} placeholders, e.g. {task}-lr{lr}-s{seed} "
                                 "(default: {task}-dk{dk}-{scale}-seed{seed})")
      ("run", po::value(&name), "the same as --name")
      ("overwrite", po::bool_switch(&overwrite), "replace a run of the same name in the file")
      ("config", po::value(&config_file), "INI file of 'option = value' lines, e.g. a run's stored `config` "
                                          "attribute (the command line wins)")
      ("progress", po::bool_switch(&progress), "show progress even when stdout is not a terminal")
      ("threads", po::value(&threads), "threads inside the run (default 1): the step's products and passes are "
                                       "split over them; every logged number is the same bits for any number, "
                                       "so it is not part of the run's configuration")
      ("lock-timeout", po::value(&save_options.lock_timeout), "wait at most this many seconds for another process writing --out (default: as long as it takes)")
      ("fallback-out", po::value(&save_options.fallback_out), "where the run goes if --out cannot take it (default: sandbox-unsaved-<time>-<pid>.h5 next to --out)");
  po::variables_map vm;
  if (!parse_options("train", args, options, vm)) return 0;
  RunConfig config;
  if (!config_file.empty()) {
    const IniFile ini = read_ini(config_file, {""});
    std::map<std::string, std::string> given;  // canonical key → where: d_model and d-model are one option
    for (const IniEntry& e : ini.entries) {
      if (const RunOption* option = find_run_option(e.key)) {
        const auto [it, fresh] = given.emplace(option->key, ini.where(e));
        if (!fresh) throw UserError(ini.where(e) + ": " + option->key + " is given twice (also at " + it->second + "; d-model and d_model are one option)");
      }
      apply_run_option(config, e.key, e.value, ini.where(e));
    }
  }
  for (const auto& [key, value] : given_run_options(vm)) apply_run_option(config, key, value, "");
  if (!name.empty()) {
    config.run_name = expand_name_template(name, config);
    check_run_name(config.run_name);
  }
  if (out.empty()) throw UserError("sandbox train: --out FILE.h5 is required");
  if (threads < 1 || threads > 256) throw UserError("--threads: " + std::to_string(threads) + " is not a number of threads from 1 to 256");
  config.validate();
  io::check_can_save(out, {}, /*overwrite=*/true);
  io::refuse_damaged_runs(out);  // before training: a damaged --out would only fail (or worse) when saving
  if (!overwrite) check_name_is_free(out, config);

  install_stop_handlers();
  ProgressLine line(progress || ::isatty(STDOUT_FILENO) == 1, ::isatty(STDOUT_FILENO) == 1);
  const auto started = std::chrono::steady_clock::now();
  const long steps = config.steps;
  RunHooks hooks;
  const std::unique_ptr<ad::Workers> workers = threads > 1 ? std::make_unique<ad::Workers>(static_cast<int>(threads)) : nullptr;
  // Tests split every op, however small (min_work 0), to check the bits on small runs.
  if (workers && std::getenv("SANDBOX_TEST_SPLIT_ALL")) workers->set_min_work(0);
  hooks.workers = workers.get();
  RunOutcome outcome = train_run(config, stop_requested, [&](long done, double loss) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0.0;
    char text[160];
    std::snprintf(text, sizeof text, "step %ld/%ld  loss %.4g  %.1f steps/s  ETA %s", done, steps, loss, rate,
                  format_duration(rate > 0 ? static_cast<double>(steps - done) / rate : NAN).c_str());
    line.update(text, done == steps);
  }, hooks);
  line.finish();
  io::RunSaver saver(out, save_options);
  saver.save({outcome.record}, overwrite);  // never loses the run: a failed save goes to a fallback file
  if (saver.failed()) throw UserError(saver.error());

  auto last = [&](const char* key) {
    for (const auto& [k, values] : outcome.record.series)
      if (k == key && !values.empty()) return values.back();
    return std::nan("");
  };
  std::printf("run %s: %s after %ld logged steps, last training loss %.6g, held-out loss %.6g; saved to %s\n",
              outcome.record.name.c_str(), status_name(outcome.status), static_cast<long>(outcome.record.steps.size()),
              last("loss"), last("eval/loss"), out.c_str());
  // A language model's held-out loss in bits per character, beside the corpus's unigram entropy, and its speed.
  if (const auto* entropy = std::get_if<double>(outcome.record.get("unigram_entropy_bits"))) {
    const auto* wall = std::get_if<double>(outcome.record.get(io::layout::run::wall_seconds));
    const long done = outcome.record.steps.empty() ? 0 : static_cast<long>(outcome.record.steps.back()) + 1;
    std::printf("held-out bits per character %.4g (the corpus's unigram entropy: %.4g bits); %.2f ms per step "
                "(training loop, evaluations included)\n",
                last(io::layout::run::eval_bits_per_char), *entropy, wall && done > 0 ? 1e3 * *wall / static_cast<double>(done) : NAN);
  }
  switch (outcome.status) {
    case RunStatus::Complete: return 0;
    case RunStatus::Interrupted: std::fprintf(stderr, "sandbox train: interrupted; the logged steps were saved\n"); return 130;
    case RunStatus::Diverged: std::fprintf(stderr, "sandbox train: %s (the steps before it were saved)\n", outcome.message.c_str()); return 3;
  }
  return 1;
}

}  // namespace sbx::cli
