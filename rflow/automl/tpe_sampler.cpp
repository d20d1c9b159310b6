// The tree-structured Parzen estimator (Bergstra et al., NeurIPS 2011) as Optuna's TPESampler
// runs it by default (univariate): the trials are ranked (those that trained further first, then
// by value), the best γ(n) = min(⌈n/10⌉, 25) form l(x) and the rest g(x), each a mixture of
// truncated normals at the trials' values plus a prior spanning the range (categorical: each
// trial's choice smoothed by prior_weight / (n + 1) on every choice, plus a uniform prior, as
// Optuna 3.1 does); 24 candidates are drawn from l per parameter and the one of largest l/g is
// kept. Within l and within g, older trials weigh less once there are more than 25. The first
// 10 trials are random.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "rflow/automl/sampler.h"
#include "rflow/automl/sampler_parts.h"

namespace rflow::automl {

namespace {

constexpr size_t kStartup = 10, kCandidates = 24;
constexpr double kPriorWeight = 1.0;

// Optuna's default_weights: equal up to 25 trials, then a ramp from 1/n for the oldest.
std::vector<double> trial_weights(size_t n) {
  std::vector<double> w(n, 1.0);
  if (n < 25) return w;
  const size_t ramp = n - 25;
  for (size_t i = 0; i < ramp; ++i) w[i] = ramp == 1 ? 1.0 / double(n) : 1.0 / double(n) + (1.0 - 1.0 / double(n)) * double(i) / double(ramp - 1);
  return w;
}

double log_normal_cdf_gap(double a, double b) {  // log(Φ(b) − Φ(a)), a < b
  const double g = 0.5 * (std::erf(b / std::sqrt(2.0)) - std::erf(a / std::sqrt(2.0)));
  return std::log(std::max(g, 1e-300));
}

// A mixture of normals truncated to [lo, hi] in the sampling space.
struct Parzen {
  std::vector<double> mu, sigma, weight;
  Interval r;

  Parzen(const std::vector<double>& obs, const std::vector<double>& w, Interval range) : r(range) {
    const double span = r.hi - r.lo;
    mu = obs, weight = w;
    mu.push_back((r.lo + r.hi) / 2), weight.push_back(kPriorWeight);
    // Each kernel as wide as its larger gap to a neighbour (the prior's centre counts as one; the
    // outermost kernels look inwards only: Optuna's consider_endpoints = false), clipped to
    // [span / min(100, 1 + n), span] (its "magic clip"); the prior spans the range.
    std::vector<size_t> order(mu.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return mu[a] < mu[b]; });
    sigma.assign(mu.size(), span);
    const double min_sigma = span / std::min(100.0, 1.0 + double(mu.size()));
    const size_t m = order.size();
    for (size_t k = 0; k < m; ++k) {
      const double left = mu[order[k]] - (k == 0 ? r.lo : mu[order[k - 1]]);
      const double right = (k + 1 == m ? r.hi : mu[order[k + 1]]) - mu[order[k]];
      const double gap = m >= 2 && k == 0 ? right : m >= 2 && k + 1 == m ? left : std::max(left, right);
      sigma[order[k]] = std::clamp(gap, min_sigma, span);
    }
    sigma.back() = span;
    const double total = std::accumulate(weight.begin(), weight.end(), 0.0);
    for (double& x : weight) x /= total;
  }

  double sample(Rng& rng) const {
    double u = rng.uniform(), acc = 0;
    size_t k = 0;
    for (; k + 1 < weight.size(); ++k)
      if ((acc += weight[k]) > u) break;
    for (int tries = 0; tries < 100; ++tries) {
      const double x = mu[k] + sigma[k] * rng.normal();
      if (x >= r.lo && x <= r.hi) return x;
    }
    return rng.uniform(r.lo, r.hi);
  }

  double log_pdf(double x) const {
    double best = -std::numeric_limits<double>::infinity();
    std::vector<double> terms(mu.size());
    for (size_t k = 0; k < mu.size(); ++k) {
      const double z = (x - mu[k]) / sigma[k];
      terms[k] = std::log(weight[k]) - 0.5 * z * z - std::log(sigma[k] * std::sqrt(2 * M_PI)) -
                 log_normal_cdf_gap((r.lo - mu[k]) / sigma[k], (r.hi - mu[k]) / sigma[k]);
      best = std::max(best, terms[k]);
    }
    double s = 0;
    for (double t : terms) s += std::exp(t - best);
    return best + std::log(s);
  }
};

// Optuna 3.1's categorical Parzen estimator: a kernel per trial — its choice, smoothed by
// prior_weight / (n + 1) on every choice — and a uniform prior kernel, mixed with the trials'
// weights and the prior's. The smoothing keeps l(x) from settling on one choice after a few trials.
std::vector<double> choice_probs(const std::vector<double>& idx, const std::vector<double>& w, size_t k) {
  const double smooth = kPriorWeight / double(idx.size() + 1);
  const double mix_total = std::accumulate(w.begin(), w.end(), 0.0) + kPriorWeight;
  std::vector<double> p(k, kPriorWeight / mix_total / double(k));  // the prior kernel
  for (size_t i = 0; i < idx.size(); ++i) {
    const double row = 1.0 + smooth * double(k), mix = w[i] / mix_total;
    for (size_t c = 0; c < k; ++c) p[c] += mix * smooth / row;
    p[static_cast<size_t>(idx[i])] += mix / row;
  }
  return p;
}

class TpeSampler : public Sampler {
 public:
  Point suggest(const SearchSpace& space, const std::vector<Observation>& history, uint64_t seed) override {
    Rng rng(seed);
    if (history.size() < kStartup) return random_point(space, rng);
    // Rank: further trained first, then lower value; the best γ(n) are "good".
    std::vector<size_t> order(history.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      if (history[a].steps != history[b].steps) return history[a].steps > history[b].steps;
      return history[a].value < history[b].value;
    });
    const size_t n_good = std::min<size_t>(25, (history.size() + 9) / 10);
    std::vector<char> good(history.size(), 0);
    for (size_t i = 0; i < n_good; ++i) good[order[i]] = 1;
    Point x;
    for (size_t p = 0; p < space.params.size(); ++p) x.push_back(suggest_one(space.params[p], p, history, good, rng));
    return x;
  }

 private:
  static double suggest_one(const ParamSpec& spec, size_t p, const std::vector<Observation>& history,
                            const std::vector<char>& good, Rng& rng) {
    std::vector<double> lv, gv;  // in start order: each group's weights ramp over its own trials
    for (size_t i = 0; i < history.size(); ++i)
      (good[i] ? lv : gv).push_back(spec.categorical() ? history[i].x[p] : to_internal(spec, history[i].x[p]));
    const std::vector<double> lw = trial_weights(lv.size()), gw = trial_weights(gv.size());
    if (spec.categorical()) {
      const auto l = choice_probs(lv, lw, spec.choices.size()), g = choice_probs(gv, gw, spec.choices.size());
      double best = -std::numeric_limits<double>::infinity(), pick = 0;
      for (size_t c = 0; c < kCandidates; ++c) {
        double u = rng.uniform(), acc = 0;
        size_t k = 0;
        for (; k + 1 < l.size(); ++k)
          if ((acc += l[k]) > u) break;
        const double score = std::log(l[k]) - std::log(g[k]);
        if (score > best) best = score, pick = double(k);
      }
      return pick;
    }
    const Interval r = interval_of(spec);
    const Parzen l(lv, lw, r), g(gv, gw, r);
    double best = -std::numeric_limits<double>::infinity(), pick = 0;
    for (size_t c = 0; c < kCandidates; ++c) {
      const double u = l.sample(rng);
      const double score = l.log_pdf(u) - g.log_pdf(u);
      if (score > best) best = score, pick = u;
    }
    return from_internal(spec, pick);
  }
};

}  // namespace

std::unique_ptr<Sampler> make_tpe_sampler() { return std::make_unique<TpeSampler>(); }

}  // namespace rflow::automl
