// `sandbox theory`: Monte Carlo of Var(q·k) and of softmax saturation against d_k, into /theory of an HDF5 file.
#include <cstdint>
#include <cstdio>

#include "experiments/src/cli/options.hpp"
#include "experiments/src/study/theory.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::cli {

int run_theory(const Args& args) {
  study::TheoryConfig config;
  std::string out;
  long long keys = config.keys, samples = config.samples, seed = 1, max_dk = config.max_dk;
  po::options_description options("theory options");
  options.add_options()
      ("out", po::value(&out), "HDF5 file to write /theory into (created if missing; an existing /theory is replaced)")
      ("keys", po::value(&keys)->default_value(keys), "keys per softmax row (n)")
      ("samples", po::value(&samples)->default_value(samples), "(q, k) pairs per d_k for the variance estimates")
      ("seed", po::value(&seed)->default_value(seed), "random seed")
      ("max-dk", po::value(&max_dk)->default_value(max_dk), "largest d_k (a power of 2); d_k runs over 1, 2, 4, ..., max-dk");
  po::variables_map vm;
  if (!parse_options("theory", args, options, vm)) return 0;
  if (!vm.count("out")) throw UserError("sandbox theory: --out FILE.h5 is required");
  if (keys < 2 || keys > study::TheoryConfig::kMaxKeys)
    throw UserError("sandbox theory: --keys must be between 2 and " + std::to_string(study::TheoryConfig::kMaxKeys) +
                    " (got " + std::to_string(keys) + ")");
  if (max_dk < 1 || max_dk > study::TheoryConfig::kMaxDk || (max_dk & (max_dk - 1)) != 0)
    throw UserError("sandbox theory: --max-dk must be a power of 2 between 1 and " +
                    std::to_string(study::TheoryConfig::kMaxDk) + " (got " + std::to_string(max_dk) + ")");
  if (seed < 0) throw UserError("sandbox theory: --seed must be 0 or more (got " + std::to_string(seed) + ")");
  config.keys = static_cast<int>(keys);
  config.samples = samples;
  config.seed = static_cast<std::uint64_t>(seed);
  config.max_dk = static_cast<int>(max_dk);
  config.validate();
  study::check_theory_output(out);  // before any work: bad paths create and change nothing

  const study::TheoryResult result = study::run_theory(config);
  study::write_theory(out, result);
  std::fputs(study::format_theory_report(result).c_str(), stdout);
  std::printf("Wrote /theory to %s.\n", out.c_str());
  return 0;
}

}  // namespace sbx::cli
