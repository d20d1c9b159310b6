#include "rflow/automl/sampler.h"

#include <algorithm>
#include <cmath>

#include "rflow/automl/sampler_parts.h"

namespace rflow::automl {

Registry<SamplerFactory>& samplers() {
  static Registry<SamplerFactory> reg = [] {
    Registry<SamplerFactory> r("sampler");
    r.add("random", "every parameter uniform in its (log) range: the baseline", make_random_sampler);
    r.add("tpe", "tree-structured Parzen estimator (10 random start-up trials, then the best l(x)/g(x) of 24 candidates)",
          make_tpe_sampler);
    return r;
  }();
  return reg;
}

namespace {
uint64_t splitmix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(uint64_t seed) {
  for (auto& s : s_) s = splitmix(seed);
}

uint64_t Rng::next() {
  const uint64_t out = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
  s_[2] ^= s_[0], s_[3] ^= s_[1], s_[1] ^= s_[2], s_[0] ^= s_[3];
  s_[2] ^= t, s_[3] = rotl(s_[3], 45);
  return out;
}

double Rng::uniform() { return double(next() >> 11) * 0x1.0p-53; }
double Rng::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
size_t Rng::index(size_t n) { return std::min(n - 1, static_cast<size_t>(uniform() * double(n))); }

double Rng::normal() {
  const double u1 = 1.0 - uniform(), u2 = uniform();  // u1 in (0, 1]: log defined
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

Interval interval_of(const ParamSpec& p) {
  if (p.categorical()) return {0, double(p.choices.size())};
  const double lo = p.integer() ? p.low - 0.5 : p.low, hi = p.integer() ? p.high + 0.5 : p.high;
  // An int log range widens in linear space first; lo stays > 0 since low >= 1 there.
  if (p.log) return {std::log(std::max(lo, p.low * 0.5)), std::log(hi)};
  return {lo, hi};
}

double to_internal(const ParamSpec& p, double v) { return p.log ? std::log(v) : v; }

double from_internal(const ParamSpec& p, double u) {
  double v = p.log ? std::exp(u) : u;
  if (p.integer()) v = std::round(v);
  return std::clamp(v, p.low, p.high);
}

}  // namespace rflow::automl
