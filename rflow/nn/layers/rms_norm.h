// RMSNorm (x / rms(x) · g): the normalisation of DeepSeek-style transformers (MLA's latents, the
// blocks, the multi-token-prediction modules). LibTorch 1.13 has none; eps 1e-6 as DeepSeek-V3.
#pragma once

#include <torch/nn/cloneable.h>

namespace rflow {

class RMSNormImpl : public torch::nn::Cloneable<RMSNormImpl> {
 public:
  explicit RMSNormImpl(int64_t dim, double eps = 1e-6);
  void reset() override;
  at::Tensor forward(const at::Tensor& x);  // over the last dimension
  at::Tensor weight;

 private:
  int64_t dim_;
  double eps_;
};
TORCH_MODULE(RMSNorm);

}  // namespace rflow
