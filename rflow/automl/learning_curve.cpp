#include "rflow/automl/learning_curve.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "rflow/core/error.h"

namespace rflow::automl {

namespace {

// a, b by least squares for a fixed c, and the residual sum of squares.
struct LinearFit {
  double a = 0, b = 0, rss = std::numeric_limits<double>::infinity();
};

LinearFit fit_for_exponent(const std::vector<CurvePoint>& pts, double c) {
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& p : pts) {
    const double x = std::pow(p.step, -c);
    n += 1, sx += x, sy += p.value, sxx += x * x, sxy += x * p.value;
  }
  LinearFit f;
  const double det = n * sxx - sx * sx;
  // c = 0 makes x constant: the model is a constant (b folded into a).
  if (std::abs(det) < 1e-12 * std::max(1.0, n * sxx)) {
    f.a = sy / n, f.b = 0;
  } else {
    f.b = (n * sxy - sx * sy) / det;
    f.a = (sy - f.b * sx) / n;
  }
  f.rss = 0;
  for (const auto& p : pts) {
    const double r = f.a + f.b * std::pow(p.step, -c) - p.value;
    f.rss += r * r;
  }
  return f;
}

}  // namespace

double PowerLaw::operator()(double step) const { return a + b * std::pow(step, -c); }

PowerLaw fit_power_law(const std::vector<CurvePoint>& points) {
  std::set<double> steps;
  for (const auto& p : points) {
    RF_CHECK(p.step > 0 && std::isfinite(p.step) && std::isfinite(p.value), "a learning-curve point needs a step > 0 and a finite value",
             "automl::fit_power_law", "report metrics at steps >= 1; a NaN metric fails the trial instead");
    steps.insert(p.step);
  }
  PowerLaw out;
  if (steps.size() < 3) return out;
  // The residual is not convex in c: a coarse grid finds the basin, golden sections refine it.
  constexpr int kGrid = 60;
  double best_c = 0, best = std::numeric_limits<double>::infinity();
  for (int i = 0; i <= kGrid; ++i) {
    const double c = kMaxExponent * i / kGrid;
    const double rss = fit_for_exponent(points, c).rss;
    if (rss < best) best = rss, best_c = c;
  }
  double lo = std::max(0.0, best_c - kMaxExponent / kGrid), hi = std::min(kMaxExponent, best_c + kMaxExponent / kGrid);
  const double g = (std::sqrt(5.0) - 1) / 2;
  for (int it = 0; it < 60; ++it) {
    const double c1 = hi - g * (hi - lo), c2 = lo + g * (hi - lo);
    if (fit_for_exponent(points, c1).rss < fit_for_exponent(points, c2).rss) hi = c2;
    else lo = c1;
  }
  const double c = (lo + hi) / 2;
  const LinearFit f = fit_for_exponent(points, c);
  out.a = f.a, out.b = f.b, out.c = c;
  out.rmse = std::sqrt(f.rss / double(points.size()));
  out.fitted = true;
  return out;
}

double predict_final(const std::vector<CurvePoint>& points, double step) {
  RF_CHECK(!points.empty(), "no points to predict from", "automl::predict_final", "report at least one value first");
  const PowerLaw f = fit_power_law(points);
  if (!f.fitted) {
    const auto last = std::max_element(points.begin(), points.end(),
                                       [](const CurvePoint& x, const CurvePoint& y) { return x.step < y.step; });
    return last->value;
  }
  return f(step);
}

}  // namespace rflow::automl
