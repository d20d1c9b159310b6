#include "rflow/eval/frechet.h"

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow::eval {

FeatureStats feature_stats(const at::Tensor& features) {
  RF_CHECK(features.dim() == 2 && features.size(0) >= 2,
           "feature statistics need a [N, D] matrix with N >= 2, got " + std::string(features.sizes().vec().empty() ? "a scalar" : "shape of rank " + std::to_string(features.dim())) +
               (features.dim() == 2 ? " with N = " + std::to_string(features.size(0)) : ""),
           "feature_stats", "pass at least two feature rows");
  at::Tensor f = features.detach().to(torch::kCPU, torch::kFloat64);
  FeatureStats s;
  s.n = f.size(0);
  s.mean = f.mean(0);
  at::Tensor c = f - s.mean;
  s.cov = c.t().mm(c) / double(s.n - 1);
  return s;
}

namespace {
// Symmetric square root of a PSD matrix (negative round-off eigenvalues clipped to 0).
at::Tensor sqrt_psd(const at::Tensor& m) {
  auto [w, v] = torch::linalg_eigh(0.5 * (m + m.t()));
  return (v * w.clamp_min(0).sqrt().unsqueeze(0)).mm(v.t());
}
}  // namespace

double frechet_distance(const FeatureStats& a, const FeatureStats& b) {
  RF_CHECK(a.mean.defined() && b.mean.defined() && a.mean.numel() == b.mean.numel(),
           "feature statistics of different sizes (" + std::to_string(a.mean.defined() ? a.mean.numel() : 0) + " vs " +
               std::to_string(b.mean.defined() ? b.mean.numel() : 0) + ")",
           "frechet_distance", "compute both with the same feature network");
  at::Tensor s1 = sqrt_psd(a.cov);
  at::Tensor inner = s1.mm(b.cov).mm(s1);
  at::Tensor w = torch::linalg_eigvalsh(0.5 * (inner + inner.t()));
  const double tr_sqrt = w.clamp_min(0).sqrt().sum().item<double>();
  const double mean_term = (a.mean - b.mean).pow(2).sum().item<double>();
  const double d = mean_term + a.cov.trace().item<double>() + b.cov.trace().item<double>() - 2.0 * tr_sqrt;
  // Identical sets give ~1e-12 of round-off either side of zero.
  return d < 0 ? 0.0 : d;
}

}  // namespace rflow::eval
