// Random search: every parameter uniform in its (log) range or over its choices; the baseline
// every search is measured against.
#include <cmath>

#include "rflow/automl/sampler.h"
#include "rflow/automl/sampler_parts.h"

namespace rflow::automl {

Point random_point(const SearchSpace& space, Rng& rng) {
  Point x;
  for (const ParamSpec& p : space.params) {
    if (p.categorical()) {
      x.push_back(double(rng.index(p.choices.size())));
      continue;
    }
    const Interval r = interval_of(p);
    x.push_back(from_internal(p, rng.uniform(r.lo, r.hi)));
  }
  return x;
}

namespace {

class RandomSampler : public Sampler {
 public:
  Point suggest(const SearchSpace& space, const std::vector<Observation>&, uint64_t seed) override {
    Rng rng(seed);
    return random_point(space, rng);
  }
};

}  // namespace

std::unique_ptr<Sampler> make_random_sampler() { return std::make_unique<RandomSampler>(); }

}  // namespace rflow::automl
