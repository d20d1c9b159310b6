// Pieces the samplers share: a parameter's range in the space they sample in (log for log ranges,
// integers widened by ½ on each side so each whole number gets its share) and back.
#pragma once

#include <memory>

#include "rflow/automl/sampler.h"

namespace rflow::automl {

struct Interval {
  double lo = 0, hi = 0;
};

Interval interval_of(const ParamSpec& p);
double to_internal(const ParamSpec& p, double v);
// Back to the parameter's own scale, rounded and clamped for integers.
double from_internal(const ParamSpec& p, double u);
Point random_point(const SearchSpace& space, Rng& rng);

std::unique_ptr<Sampler> make_random_sampler();
std::unique_ptr<Sampler> make_tpe_sampler();

}  // namespace rflow::automl
