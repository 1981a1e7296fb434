#include "experiments/src/train/gradcheck_cache.hpp"

#include <cstdio>

namespace sbx {

// Every input of models::gradcheck_model: the whole attention configuration, the shapes and the seed.
std::string GradcheckCache::key(const models::ModelCheck& check, uint64_t seed) {
  const models::AttentionConfig& c = check.config;
  char text[320];
  std::snprintf(text, sizeof text, "%ld %ld %ld %ld %ld %s %d %a %d %ld %ld %ld %llu", static_cast<long>(c.d_model),
                static_cast<long>(c.d_k), static_cast<long>(c.d_v), static_cast<long>(c.heads), static_cast<long>(c.d_out),
                c.scale.rule().name, c.causal ? 1 : 0, c.init_std, check.cross ? 1 : 0, static_cast<long>(check.batch),
                static_cast<long>(check.n_query), static_cast<long>(check.n_key), static_cast<unsigned long long>(seed));
  return text;
}

double GradcheckCache::error(const models::ModelCheck& check, uint64_t seed, const std::function<double()>& compute) {
  const std::string k = key(check, seed);
  {
    std::lock_guard lock(mutex_);
    if (const auto found = errors_.find(k); found != errors_.end()) {
      ++reused_;
      return found->second;
    }
  }
  const double e = compute();  // outside the lock: other runs keep going meanwhile
  std::lock_guard lock(mutex_);
  errors_.emplace(k, e);
  return e;
}

size_t GradcheckCache::computed() const {
  std::lock_guard lock(mutex_);
  return errors_.size();
}

size_t GradcheckCache::reused() const {
  std::lock_guard lock(mutex_);
  return reused_;
}

}  // namespace sbx
