#pragma once
// A sweep's runs share their gradient checks: each run checks a small version of its model
// (models::small_version), which depends only on the model's form (scale mode, mask, W^O, heads, cross)
// and the seed, not on d_k, the learning rate or the task's data. The cache computes each distinct check
// once and hands every run the error of the check that covers it: the same number the run would have
// computed itself, since the check is deterministic.
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "models/model_checks.hpp"

namespace sbx {

class GradcheckCache {
 public:
  // The stored result for (check, seed), else compute() once, stored. Thread-safe; two runs asking for the
  // same new check at once may both compute it (the results are equal).
  double error(const models::ModelCheck& check, uint64_t seed, const std::function<double()>& compute);
  size_t computed() const;  // distinct checks computed so far
  size_t reused() const;    // answers given from the cache

 private:
  static std::string key(const models::ModelCheck& check, uint64_t seed);
  mutable std::mutex mutex_;
  std::map<std::string, double> errors_;
  size_t reused_ = 0;
};

}  // namespace sbx
