// Where the next trial's point comes from. A sampler sees the space and every earlier trial (its
// point, how far it trained and its value there) and proposes a point from a seed of its own, so
// that the same study replayed gives the same sequence. Registered by name: random (the baseline)
// and tpe (Bergstra et al., NeurIPS 2011, with Optuna's defaults).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "rflow/automl/search_space.h"
#include "rflow/core/registry.h"

namespace rflow::automl {

struct Observation {
  Point x;
  int64_t steps = 0;   // how far the trial trained (a pruned trial: its last rung)
  double value = 0;    // its metric there; lower is better
};

class Sampler {
 public:
  virtual ~Sampler() = default;
  // history: the trials with a value, in the order they were started.
  virtual Point suggest(const SearchSpace& space, const std::vector<Observation>& history, uint64_t seed) = 0;
};

using SamplerFactory = std::function<std::unique_ptr<Sampler>()>;
Registry<SamplerFactory>& samplers();

// A portable random stream (the same numbers on every standard library): SplitMix64-seeded
// xoshiro256**, uniforms from 53 bits, normals by Box–Muller.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next();
  double uniform();                      // [0, 1)
  double uniform(double lo, double hi);  // [lo, hi)
  double normal();
  size_t index(size_t n);                // [0, n)

 private:
  uint64_t s_[4];
};

}  // namespace rflow::automl
