#include "models/model_checks.hpp"

namespace models {

ModelCheck small_version(const AttentionConfig& config, bool cross) {
  ModelCheck check;
  check.name = std::string(cross ? "cross" : "self") + "_" + scale_name(config.scale) + (config.causal ? "_causal" : "") +
               (config.d_out > 0 ? "_wo" : "") + (config.heads > 1 ? "_h" + std::to_string(config.heads) : "");
  check.config = config;
  check.config.d_model = 5;
  check.config.d_k = 3;
  check.config.d_v = 4;
  check.config.d_out = config.d_out > 0 ? 2 : 0;
  check.config.init_std = 0.0;
  check.cross = cross;
  check.batch = 2;
  check.n_query = cross ? 3 : 4;
  check.n_key = cross ? 6 : 4;
  return check;
}

const std::vector<ModelCheck>& model_checks() {
  static const std::vector<ModelCheck> checks = [] {
    std::vector<ModelCheck> all;
    for (const std::string& scale : scale_names()) {
      // 0 plain, 1 W^O, 2 causal, 3 cross with W^O; with heads: 4 self, causal, W^O, 2 heads;
      // 5 cross without W^O, 3 heads.
      for (int variant = 0; variant < 6; ++variant) {
        AttentionConfig config;
        config.scale = parse_scale(scale);
        config.d_out = variant == 1 || variant == 3 || variant == 4 ? 2 : 0;
        const bool cross = variant == 3 || variant == 5;
        config.causal = variant == 2 || variant == 4;
        config.heads = variant == 4 ? 2 : variant == 5 ? 3 : 1;
        all.push_back(small_version(config, cross));
      }
    }
    return all;
  }();
  return checks;
}

ad::GradcheckReport gradcheck_model(const ModelCheck& check, uint64_t seed) {
  ad::Rng rng(seed);
  Attention model(check.config, rng);
  const Eigen::Index d_model = check.config.d_model;
  std::vector<Matrix> inputs = {ad::random_normal(rng, check.batch * check.n_query, d_model)};
  if (check.cross) inputs.push_back(ad::random_normal(rng, check.batch * check.n_key, d_model));
  const size_t first_weight = inputs.size();
  for (const ad::Parameter* p : model.parameters()) inputs.push_back(p->value);
  // A learned scale is checked away from its initial value too.
  if (has_learned_scale(check.config.scale)) inputs.back()(0, 0) += 0.3;

  const bool has_wo = check.config.d_out > 0;
  const bool has_scale = has_learned_scale(check.config.scale);
  auto build = [&model, &check, first_weight, has_wo, has_scale](ad::Tape& tape, const std::vector<ad::Var>& x) {
    AttentionWeights w{x[first_weight], x[first_weight + 1], x[first_weight + 2], {}, {}};
    size_t next = first_weight + 3;
    if (has_wo) w.w_o = x[next++];
    if (has_scale) w.log_scale = x[next++];
    const ad::Var context = check.cross ? x[1] : x[0];
    return model.apply(tape, w, x[0], context, check.batch).output;
  };
  return ad::gradcheck(build, inputs);
}

}  // namespace models
