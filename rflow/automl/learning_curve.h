// The "predicted training log", done honestly: a power law m(s) = a + b·s^(−c) fitted by least
// squares to the metric a trial has reported so far, extrapolated to the steps it would train.
// The search uses the prediction as an extra pruning signal and records, once a trial finishes,
// how far the prediction was from what it measured.
#pragma once

#include <cstdint>
#include <vector>

namespace rflow::automl {

struct CurvePoint {
  double step = 0, value = 0;
};

struct PowerLaw {
  double a = 0, b = 0, c = 0;  // m(s) = a + b·s^(−c); c in [0, kMaxExponent]
  double rmse = 0;             // of the fit on its points
  bool fitted = false;         // false: fewer than 3 distinct steps (predict returns the last value)
  double operator()(double step) const;
};

inline constexpr double kMaxExponent = 3.0;

// Least squares: for each c (a grid, then golden-section refinement) a and b are linear, solved
// exactly; the c of least residual wins. Steps must be > 0.
PowerLaw fit_power_law(const std::vector<CurvePoint>& points);

// The fitted curve at `step`; the last observed value where no curve could be fitted.
double predict_final(const std::vector<CurvePoint>& points, double step);

}  // namespace rflow::automl
