// Affine schedulers: X_t = α_t·X1 + σ_t·X0 with α_0 = 0, σ_0 = 1, α_1 = 1, σ_1 = 0 (t = 0 noise,
// t = 1 data). One scheduler is the whole description of an affine probability path; AffinePath,
// the prediction conversions and the re-timing of a linear-path field are all written against it.
// Specs: linear, cosine, vp, polynomial:N.
#pragma once

#include <memory>
#include <string>

#include <ATen/core/Tensor.h>

namespace rflow {

// α_t, σ_t and their t-derivatives, each shaped like t.
struct SchedulerValues {
  at::Tensor alpha, sigma, d_alpha, d_sigma;
};

class Scheduler {
 public:
  virtual ~Scheduler();
  // The spec that make_scheduler turns back into this scheduler.
  virtual std::string name() const = 0;
  // Computed in t's dtype and on t's device.
  virtual SchedulerValues at(const at::Tensor& t) const = 0;
};

// CondOT / rectified flow: α = t, σ = 1 − t.
class LinearScheduler : public Scheduler {
 public:
  std::string name() const override { return "linear"; }
  SchedulerValues at(const at::Tensor& t) const override;
};

// α = sin(πt/2), σ = cos(πt/2). σ is evaluated as sin(π(1 − t)/2) so that both endpoints are exact
// in floating point (cos(π/2) is 6e-17 in double and −4e-8 in float).
class CosineScheduler : public Scheduler {
 public:
  std::string name() const override { return "cosine"; }
  SchedulerValues at(const at::Tensor& t) const override;
};

// α = t^n, σ = 1 − t^n for n > 0. For n < 1, dα/dt is infinite at t = 0.
class PolynomialScheduler : public Scheduler {
 public:
  explicit PolynomialScheduler(double n);
  std::string name() const override;
  SchedulerValues at(const at::Tensor& t) const override;
  double exponent() const { return n_; }

 private:
  double n_;
};

// Variance preserving (DDPM's linear β schedule, β_min = 0.1 → β_max = 20) in our t direction:
// with s = 1 − t, m(s) = −¼ s²(β_max − β_min) − ½ s β_min, α = exp(m), σ = sqrt(1 − α²).
// As in flow_matching's VPScheduler the endpoints are only approximate at t = 0: α_0 = e^{−5.025}
// ≈ 6.6e-3 (σ_0 ≈ 1 − 2e-5), so noise is not exactly X_0. At t = 1, α = 1 and σ = 0 exactly,
// but σ ≈ sqrt(β_min (1 − t)) there, so dσ/dt = −∞ at t = 1.
class VPScheduler : public Scheduler {
 public:
  explicit VPScheduler(double beta_min = 0.1, double beta_max = 20.0);
  std::string name() const override { return "vp"; }
  SchedulerValues at(const at::Tensor& t) const override;

 private:
  double beta_min_, beta_max_;
};

// spec: linear | cosine | vp | polynomial:N (N > 0, e.g. polynomial:2). Throws rflow::Error
// naming the valid specs otherwise.
std::unique_ptr<Scheduler> make_scheduler(const std::string& spec);

// One line listing the valid specs, for help strings and error hints.
std::string scheduler_specs();

// Scheduler values for a batch: t [B] is evaluated in float64 when t or `like` is float64 (float32
// otherwise, so half-precision batches do not lose the schedule), then viewed as [B, 1, ...] and
// cast to like's dtype so each value broadcasts against `like` ([B, ...]).
SchedulerValues scheduler_values_like(const Scheduler& s, const at::Tensor& t, const at::Tensor& like);

}  // namespace rflow
