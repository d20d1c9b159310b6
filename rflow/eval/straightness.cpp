#include "rflow/eval/straightness.h"

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow::eval {

Straightness straightness(const at::Tensor& trajectory, const std::vector<double>& times) {
  RF_CHECK(trajectory.dim() >= 3 && trajectory.size(0) == int64_t(times.size()) && times.size() >= 2,
           "trajectory must be [S+1, B, ...] with S+1 = times.size() >= 2", "straightness",
           "record the trajectory (SolveOptions::record_trajectory)");
  auto z = trajectory.to(torch::kFloat64).flatten(2);  // [S+1, B, D]
  auto disp = z[-1] - z[0];                            // [B, D]
  const double span = times.back() - times.front();
  double s = 0;
  for (size_t i = 0; i + 1 < times.size(); ++i) {
    double dt = times[i + 1] - times[i];
    auto slope = (z[i + 1] - z[i]) / dt;
    // Slopes are per unit time over [t_a, t_b]; the straight reference is disp / span.
    s += dt / span * (disp / span - slope).pow(2).sum(1).mean().item<double>();
  }
  Straightness out;
  out.straightness = s;
  out.transport_cost = disp.pow(2).sum(1).mean().item<double>();
  out.normalized = out.transport_cost > 0 ? s / out.transport_cost : 0.0;
  return out;
}

}  // namespace rflow::eval
