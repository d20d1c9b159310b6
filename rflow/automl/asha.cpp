#include "rflow/automl/asha.h"

#include <algorithm>
#include <cmath>

#include "rflow/core/error.h"

namespace rflow::automl {

void AshaOptions::validate(const std::string& where) const {
  RF_CHECK(eta >= 2 && eta <= 100, "eta must be in [2, 100]", where + ".eta", "3 keeps a third at each rung; 4 is Optuna's default");
  RF_CHECK(min_steps >= 1, "min_steps must be at least 1", where + ".min_steps", "about max_steps / 27 gives 3-4 rungs");
  RF_CHECK(max_steps >= min_steps, "max_steps must be at least min_steps", where + ".max_steps",
           "the full training length of a trial that survives every rung");
}

Asha::Asha(const AshaOptions& opt) : opt_(opt) {
  opt_.validate();
  for (int64_t r = opt_.min_steps; r < opt_.max_steps; r *= opt_.eta) rungs_.push_back(r);
}

bool Asha::continues(double value, std::vector<double> rung_values) const {
  if (std::isnan(value)) return false;
  rung_values.erase(std::remove_if(rung_values.begin(), rung_values.end(), [](double v) { return std::isnan(v); }),
                    rung_values.end());
  if (rung_values.empty()) return true;
  std::sort(rung_values.begin(), rung_values.end());
  const size_t keep = std::max<size_t>(1, rung_values.size() / static_cast<size_t>(opt_.eta));
  return value <= rung_values[keep - 1];
}

double Asha::budget_bound(int64_t trials) const {
  double total = 0, alive = double(trials), prev = 0;
  for (int64_t r : rungs_) {
    total += alive * double(r - prev);
    prev = double(r);
    alive = std::floor(alive / double(opt_.eta));
  }
  return total + alive * double(opt_.max_steps - prev);
}

}  // namespace rflow::automl
