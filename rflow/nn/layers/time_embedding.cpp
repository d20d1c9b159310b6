#include "rflow/nn/layers/time_embedding.h"

#include <cmath>

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

TimeEmbeddingImpl::TimeEmbeddingImpl(std::string kind, int64_t dim, double scale)
    : kind_(std::move(kind)), dim_(dim), scale_(scale) {
  RF_CHECK(dim >= 2 && dim % 2 == 0, "time embedding dim must be even and >= 2, got " + std::to_string(dim),
           "model.time_dim", "");
  reset();
}

void TimeEmbeddingImpl::reset() {
  const int64_t half = dim_ / 2;
  const double scale = scale_;
  if (kind_ == "sinusoidal") {
    // exp(−ln(10000)·i/half): the transformer schedule, applied to scale·t (scale ≈ 1000 as in the RF code).
    freqs_ = torch::exp(torch::arange(half, torch::kFloat32) * (-std::log(10000.0) / half)) * scale;
  } else if (kind_ == "fourier") {
    freqs_ = torch::randn({half}) * scale * 2.0 * M_PI;
  } else {
    throw Error("unknown time embedding '" + kind_ + "'", "model.time_embed", "use sinusoidal or fourier");
  }
  freqs_ = register_buffer("freqs", freqs_);
}

at::Tensor TimeEmbeddingImpl::forward(const at::Tensor& t) {
  auto args = t.to(torch::kFloat32).unsqueeze(1) * freqs_.unsqueeze(0);
  return torch::cat({torch::sin(args), torch::cos(args)}, 1);
}

}  // namespace rflow
