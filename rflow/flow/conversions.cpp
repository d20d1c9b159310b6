#include "rflow/flow/conversions.h"

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

namespace {
SchedulerValues clamped_values(const Scheduler& s, const at::Tensor& pred, const at::Tensor& x,
                               const at::Tensor& t, const char* where) {
  RF_CHECK(pred.defined() && x.defined() && pred.sizes() == x.sizes(),
           "prediction and x shapes differ", where, "both must be [B, ...] with the same shape");
  RF_CHECK(t.defined() && t.dim() == 1 && t.size(0) == x.size(0), "t must be [B]", where,
           "pass one time per sample");
  return scheduler_values_like(s, t.clamp(kConversionTimeEps, 1 - kConversionTimeEps), x);
}
}  // namespace

at::Tensor velocity_to_x1(const Scheduler& s, const at::Tensor& v, const at::Tensor& x, const at::Tensor& t) {
  auto c = clamped_values(s, v, x, t, "velocity_to_x1");
  return (c.sigma * v - c.d_sigma * x) / (c.sigma * c.d_alpha - c.d_sigma * c.alpha);
}

at::Tensor velocity_to_epsilon(const Scheduler& s, const at::Tensor& v, const at::Tensor& x, const at::Tensor& t) {
  auto c = clamped_values(s, v, x, t, "velocity_to_epsilon");
  return (c.d_alpha * x - c.alpha * v) / (c.sigma * c.d_alpha - c.d_sigma * c.alpha);
}

at::Tensor x1_to_velocity(const Scheduler& s, const at::Tensor& x1_pred, const at::Tensor& x, const at::Tensor& t) {
  auto c = clamped_values(s, x1_pred, x, t, "x1_to_velocity");
  return c.d_alpha * x1_pred + c.d_sigma * (x - c.alpha * x1_pred) / c.sigma;
}

at::Tensor epsilon_to_velocity(const Scheduler& s, const at::Tensor& eps_pred, const at::Tensor& x,
                               const at::Tensor& t) {
  auto c = clamped_values(s, eps_pred, x, t, "epsilon_to_velocity");
  return c.d_alpha * (x - c.sigma * eps_pred) / c.alpha + c.d_sigma * eps_pred;
}

}  // namespace rflow
