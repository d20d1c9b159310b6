// Straightness of a learned flow (docs/methods.md): Ŝ = mean over steps and samples of
// ‖(Z1 − Z0) − Ż_t‖², with Ż_t taken as each step's slope of a recorded trajectory (for Euler it is
// exactly v(Z_t, t)), its normalised value Ŝ / E‖Z1 − Z0‖² and the transport cost E‖Z1 − Z0‖².
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

namespace rflow::eval {

struct Straightness {
  double straightness = 0;    // Ŝ (0 ⇔ straight paths at constant speed)
  double normalized = 0;      // Ŝ / transport cost
  double transport_cost = 0;  // E‖Z1 − Z0‖²
};

// trajectory [S+1, B, ...] at `times` (S+1 increasing or decreasing values).
Straightness straightness(const at::Tensor& trajectory, const std::vector<double>& times);

}  // namespace rflow::eval
