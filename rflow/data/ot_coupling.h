// Minibatch optimal-transport coupling (OT-CFM, Tong et al. 2023; Pooladian et al. 2023): within
// each batch, x1 is re-paired with x0 so that pairs follow an optimal (exact) or entropic
// (Sinkhorn) transport plan for the squared Euclidean cost. Straighter pairs give straighter
// flows. OtCoupling applies this to every batch another BatchSource draws.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "rflow/data/batch_source.h"
#include "rflow/data/ot_config.h"

namespace rflow {

// Squared Euclidean distances between the rows of x0 [n, ...] and x1 [m, ...] (flattened), as an
// [n, m] float64 CPU tensor.
at::Tensor ot_cost_matrix(const at::Tensor& x0, const at::Tensor& x1);

// Log of the entropic transport plan with uniform marginals (entries sum to 1) for an [n, m]
// float64 cost, by log-domain Sinkhorn. epsilon is relative to the mean cost, so one setting
// behaves alike at any data scale. Returned as a log so no entry underflows for small epsilon.
at::Tensor sinkhorn_log_plan(const at::Tensor& cost, double epsilon, int64_t iterations);

// For each row i of x0, the row of x1 it is paired with ([B] int64 on the CPU). Draws from the
// default generator only for sinkhorn with replace = true.
at::Tensor ot_pairing(const at::Tensor& x0, const at::Tensor& x1, const OtConfig& cfg);

// The batch with x1 (and labels, which belong to x1) re-paired according to cfg; x0 is untouched.
// Works for any sample shape and device; the plan is computed on the CPU in float64.
Batch ot_couple(const Batch& b, const OtConfig& cfg);

// Mean over rows of ||x1_i - x0_i||^2, in float64.
double pairing_cost(const Batch& b);

class OtCoupling : public BatchSource {
 public:
  OtCoupling(std::unique_ptr<BatchSource> inner, OtConfig cfg);
  Batch next(int64_t batch_size, c10::Device device) override;
  std::vector<int64_t> sample_shape() const override { return inner_->sample_shape(); }
  std::vector<std::vector<int64_t>> sample_shapes() const override { return inner_->sample_shapes(); }
  BatchSource& inner() { return *inner_; }
  const OtConfig& config() const { return cfg_; }

 private:
  std::unique_ptr<BatchSource> inner_;
  OtConfig cfg_;
};

}  // namespace rflow
