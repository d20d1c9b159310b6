#include "rflow/flow/time_sampler.h"

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

void TimeSamplerConfig::validate(const std::string& where) const {
  RF_CHECK(kind == "uniform" || kind == "logit_normal", "unknown time sampler '" + kind + "'",
           where + ".kind", "use uniform or logit_normal");
  RF_CHECK(eps >= 0 && eps < 1, "eps must be in [0, 1)", where + ".eps", "typical: 1e-3");
  RF_CHECK(logit_std > 0, "logit_std must be > 0", where + ".logit_std", "typical: 1.0");
}

at::Tensor sample_time(const TimeSamplerConfig& cfg, int64_t n, c10::Device device) {
  auto opts = torch::TensorOptions().device(device).dtype(torch::kFloat32);
  if (cfg.kind == "logit_normal") return torch::sigmoid(torch::randn({n}, opts) * cfg.logit_std + cfg.logit_mean);
  return torch::rand({n}, opts) * (1.0 - cfg.eps) + cfg.eps;
}

}  // namespace rflow
