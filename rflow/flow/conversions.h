// Conversions between what a network may predict on an affine path X_t = α_t·X1 + σ_t·X0: the
// velocity v = α'·X1 + σ'·X0, the data X1, and the noise ε = X0. Given x and one of them, the other
// two follow from the 2×2 system {x = α x1 + σ ε, v = α' x1 + σ' ε} with determinant
// σα' − σ'α. Shapes: x and predictions [B, ...], t [B].
#pragma once

#include <ATen/core/Tensor.h>

#include "rflow/flow/scheduler.h"

namespace rflow {

// The conversions divide by the determinant (and by σ or α for the x1/ε → v directions), which
// vanish or blow up at an endpoint for some schedulers (σ_1 = 0, α_0 = 0, polynomial's det = n t^{n−1},
// vp's σ'_1 = −∞). They therefore evaluate the scheduler at t clamped into
// [kConversionTimeEps, 1 − kConversionTimeEps]: exact inside, finite at the endpoints.
inline constexpr double kConversionTimeEps = 1e-5;

// x1 = (σ v − σ' x) / (σ α' − σ' α)
at::Tensor velocity_to_x1(const Scheduler& s, const at::Tensor& v, const at::Tensor& x, const at::Tensor& t);
// ε = x0 = (α' x − α v) / (σ α' − σ' α)
at::Tensor velocity_to_epsilon(const Scheduler& s, const at::Tensor& v, const at::Tensor& x, const at::Tensor& t);
// v = α' x1 + σ' (x − α x1) / σ
at::Tensor x1_to_velocity(const Scheduler& s, const at::Tensor& x1_pred, const at::Tensor& x, const at::Tensor& t);
// v = α' (x − σ ε) / α + σ' ε
at::Tensor epsilon_to_velocity(const Scheduler& s, const at::Tensor& eps_pred, const at::Tensor& x,
                               const at::Tensor& t);

}  // namespace rflow
