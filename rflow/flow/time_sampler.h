// Training-time distributions of t: uniform on [eps, 1] (rectified-flow reference, eps = 1e-3) and
// logit-normal (SD3), both drawn from the default generator so that runs are seed-reproducible.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace rflow {

struct TimeSamplerConfig {
  std::string kind = "uniform";  // uniform | logit_normal
  double eps = 1e-3;
  double logit_mean = 0.0;
  double logit_std = 1.0;

  template <class V>
  void visit(V& v) {
    v("kind", kind, "training time distribution: uniform (on [eps, 1]) | logit_normal");
    v("eps", eps, "lower end of t for uniform sampling (rectified-flow reference: 1e-3)");
    v("logit_mean", logit_mean, "mean of the normal before the sigmoid (logit_normal)");
    v("logit_std", logit_std, "std of the normal before the sigmoid (logit_normal)");
  }
  void validate(const std::string& where = "method.time") const;
};

at::Tensor sample_time(const TimeSamplerConfig& cfg, int64_t n, c10::Device device);

}  // namespace rflow
