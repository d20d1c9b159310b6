// The ConvNeXt block of JanusFlow's shallow generation encoder and decoder: depthwise 7×7 conv,
// RMSNorm over channels, Linear(C→4C), GELU, global response normalisation (ConvNeXt V2), Linear
// back, the residual, then a time modulation x·(1 + scale) + shift with (scale, shift) a linear map
// of SiLU(t_emb) — after the residual, as JanusFlow's UViT blocks do.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include "rflow/nn/layers/rms_norm.h"

namespace rflow {

// GRN over a channels-last map [B, H, W, C]: x + γ·(x·N(x)) + β, N(x) = ‖x‖₂ over the positions
// of each channel divided by its mean over channels.
class GlobalResponseNormImpl : public torch::nn::Cloneable<GlobalResponseNormImpl> {
 public:
  explicit GlobalResponseNormImpl(int64_t channels);
  void reset() override;
  at::Tensor forward(const at::Tensor& x);

 private:
  int64_t channels_;
  at::Tensor gamma_, beta_;
};
TORCH_MODULE(GlobalResponseNorm);

class ConvNeXtBlockImpl : public torch::nn::Cloneable<ConvNeXtBlockImpl> {
 public:
  ConvNeXtBlockImpl(int64_t channels, int64_t cond_dim);
  void reset() override;
  // x [B, C, H, W], t_emb [B, cond_dim] → [B, C, H, W].
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t_emb);

 private:
  int64_t channels_, cond_dim_;
  torch::nn::Conv2d dw_{nullptr};
  RMSNorm norm_{nullptr};
  torch::nn::Linear up_{nullptr}, down_{nullptr}, mod_{nullptr};
  GlobalResponseNorm grn_{nullptr};
};
TORCH_MODULE(ConvNeXtBlock);

}  // namespace rflow
