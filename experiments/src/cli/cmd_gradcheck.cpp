// `sandbox gradcheck`: every op of the table (and every model, the language model in every scale mode) against
// central differences.
#include <cstdio>

#include "autodiff/op_table.hpp"
#include "models/lm_checks.hpp"
#include "models/model_checks.hpp"
#include "experiments/src/cli/options.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::cli {

int run_gradcheck(const Args& args) {
  po::options_description options("gradcheck options");
  int seeds = 3;
  options.add_options()("seeds", po::value<int>(&seeds)->default_value(3), "random inputs per op");
  po::variables_map vm;
  if (!parse_options("gradcheck", args, options, vm)) return 0;
  if (seeds <= 0 || seeds > 1000) throw UserError("sandbox gradcheck: --seeds must be in 1..1000");

  // One row per op (or model) with the worst over the seeds; the detail names the worst entry.
  int failures = 0;
  auto report_row = [&](const std::string& name, const auto& check_seed) {
    double worst_error = 0.0, worst_ratio = 0.0;
    bool passed = true;
    std::string detail;
    for (int seed = 0; seed < seeds; ++seed) {
      const ad::GradcheckReport report = check_seed(seed);
      worst_error = std::max(worst_error, report.max_abs_error);
      if (report.worst_ratio >= worst_ratio || !report.passed) detail = report.describe();
      worst_ratio = std::max(worst_ratio, report.worst_ratio);
      passed = passed && report.passed;
    }
    failures += passed ? 0 : 1;
    std::printf("%-28s %14.3e %12.3f  %s\n", name.c_str(), worst_error, worst_ratio,
                passed ? "pass" : ("FAIL  " + detail).c_str());
  };

  std::printf("%-28s %14s %12s  %s\n", "op", "max |error|", "of tol.", "result");
  for (const auto& entry : ad::op_table())
    report_row(entry.name, [&entry](int seed) {
      ad::Rng rng(1000 + static_cast<uint64_t>(seed));
      const auto shape = ad::default_shape();
      return ad::gradcheck(entry.bind(shape), entry.inputs(rng, shape));
    });
  std::printf("\n%-28s %14s %12s  %s\n", "model (output vs weights, inputs)", "max |error|", "of tol.", "result");
  for (const auto& check : models::model_checks())
    report_row(check.name, [&check](int seed) { return models::gradcheck_model(check, 2000 + static_cast<uint64_t>(seed)); });
  // The language model, whole (its loss against every weight), in every scale mode.
  for (const models::ScaleMode scale : models::scale_modes())
    report_row("lm " + models::scale_name(scale),
               [scale](int seed) { return models::gradcheck_small_lm(scale, 3000 + static_cast<uint64_t>(seed)); });
  std::printf("%zu ops and %zu models checked, %d failed (an entry passes when |analytic - numeric| <= 1e-8 + "
              "1e-6*|numeric|)\n",
              ad::op_table().size(), models::model_checks().size() + models::scale_modes().size(), failures);
  return failures == 0 ? 0 : 1;
}

}  // namespace sbx::cli
