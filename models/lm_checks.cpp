#include "models/lm_checks.hpp"

namespace models {

LmConfig small_lm(ScaleMode scale) {
  LmConfig c;
  c.vocab = 7;
  c.context = 5;
  c.d_model = 6;
  c.heads = 2;
  c.d_k = 4;
  c.d_v = 5;
  c.layers = 2;
  c.mlp_width = 9;
  c.scale = scale;
  return c;
}

ad::GradcheckReport gradcheck_small_lm(ScaleMode scale, uint64_t seed, bool loss) {
  const LmConfig config = small_lm(scale);
  ad::Rng rng(seed);
  Lm model(config, rng);
  // Away from the initial values (gains 1, biases 0, small embeddings), which would leave products untested.
  std::vector<ad::Matrix> weights;
  for (ad::Parameter* p : model.parameters())
    weights.push_back(p->value + ad::random_normal(rng, p->value.rows(), p->value.cols(), 0.3));
  const Eigen::Index batch = 2, rows = batch * config.context;
  std::uniform_int_distribution<int> token(0, static_cast<int>(config.vocab) - 1);
  std::vector<int> tokens(static_cast<size_t>(rows)), targets(static_cast<size_t>(rows));
  for (int& t : tokens) t = token(rng);
  for (int& t : targets) t = token(rng);
  targets[1] = -1;  // a row that is not scored
  return ad::gradcheck(
      [&](ad::Tape&, const std::vector<ad::Var>& w) {
        const LmForward f = model.apply(w, tokens, targets, batch);
        return loss ? f.loss : f.logits;
      },
      weights);
}

}  // namespace models
