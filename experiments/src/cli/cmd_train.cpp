// `sandbox train`: one run, logged into an HDF5 file under /runs/<name>.
#include <cstdio>

#include "experiments/src/cli/run_options.hpp"
#include "experiments/src/io/run_check.hpp"
#include "experiments/src/io/run_file.hpp"
#include "experiments/src/io/run_saver.hpp"
#include "experiments/src/train/stop_signal.hpp"
#include "experiments/src/train/trainer.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::cli {

int run_train(const Args& args) {
  RunConfig config;
  std::string out, config_file;
  bool overwrite = false;
  io::SaveOptions save_options;
  po::options_description options("train options");
  add_run_options(options, config);
  options.add_options()
      ("out", po::value(&out), "HDF5 file to add the run to (created if missing)")
      ("run", po::value(&config.run_name), "run name (default <task>-dk<d_k>-<scale>-seed<seed>)")
      ("overwrite", po::bool_switch(&overwrite), "replace a run of the same name in the file")
      ("config", po::value(&config_file), "INI file with any of these options (the command line wins)")
      ("lock-timeout", po::value(&save_options.lock_timeout), "wait at most this many seconds for another process writing --out (default: as long as it takes)")
      ("fallback-out", po::value(&save_options.fallback_out), "where the run goes if --out cannot take it (default: sandbox-unsaved-<time>-<pid>.h5 next to --out)");
  po::variables_map vm;
  if (!parse_options("train", args, options, vm, "config")) return 0;
  finish_run_options(vm, config);
  if (out.empty()) throw UserError("sandbox train: --out FILE.h5 is required");
  config.validate();
  io::check_can_save(out, {config.name()}, overwrite);
  io::refuse_damaged_runs(out);  // before training: a damaged --out would only fail (or worse) when saving

  install_stop_handlers();
  RunOutcome outcome = train_run(config, stop_requested);
  io::RunSaver saver(out, save_options);
  saver.save({outcome.record}, overwrite);  // never loses the run: a failed save goes to a fallback file
  if (saver.failed()) throw UserError(saver.error());

  const auto& steps = outcome.record.steps;
  const auto* loss = &outcome.record.series.front().second;
  for (const auto& [key, values] : outcome.record.series)
    if (key == "loss") loss = &values;
  std::printf("run %s: %s after %ld logged steps, last loss %.6g; saved to %s\n", outcome.record.name.c_str(),
              status_name(outcome.status), static_cast<long>(steps.size()), loss->empty() ? std::nan("") : loss->back(),
              out.c_str());
  switch (outcome.status) {
    case RunStatus::Complete: return 0;
    case RunStatus::Interrupted: std::fprintf(stderr, "sandbox train: interrupted; the logged steps were saved\n"); return 130;
    case RunStatus::Diverged: std::fprintf(stderr, "sandbox train: %s (the steps before it were saved)\n", outcome.message.c_str()); return 3;
  }
  return 1;
}

}  // namespace sbx::cli
