// Fréchet distance between Gaussians fitted to two feature sets (the formula behind FID):
//   ‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2 tr (Σ1^½ Σ2 Σ1^½)^½.
// Everything runs in float64; the trace term comes from symmetric eigendecompositions, which is
// exact for PSD covariances and never produces the complex parts that scipy's sqrtm can.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace rflow::eval {

struct FeatureStats {
  at::Tensor mean;  // float64 [D]
  at::Tensor cov;   // float64 [D, D], unbiased (n − 1)
  int64_t n = 0;
};

// features: [N, D], N ≥ 2, any floating dtype.
FeatureStats feature_stats(const at::Tensor& features);

double frechet_distance(const FeatureStats& a, const FeatureStats& b);

}  // namespace rflow::eval
