// U-Net velocity field for images [C, H, W] (DDPM / NCSN++-style, scaled down): a sinusoidal time
// embedding (plus a label embedding for class-conditional models, label −1 = "no label" for CFG)
// feeds every residual block; blocks use GroupNorm + SiLU, dropout, and self-attention at the
// resolutions listed in attn_resolutions. The output conv starts at zero, so an untrained model
// predicts v = 0 and early training is stable.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "rflow/flow/velocity_field.h"
#include "rflow/nn/model_config.h"
#include "rflow/nn/time_embedding.h"

namespace rflow {

class ResBlockImpl : public torch::nn::Module {
 public:
  ResBlockImpl(int64_t in, int64_t out, int64_t emb_dim, int64_t groups, double dropout);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& emb);

 private:
  torch::nn::GroupNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, skip_{nullptr};
  torch::nn::Linear emb_{nullptr};
  double dropout_;
};
TORCH_MODULE(ResBlock);

class AttentionBlockImpl : public torch::nn::Module {
 public:
  AttentionBlockImpl(int64_t channels, int64_t heads, int64_t groups);
  at::Tensor forward(const at::Tensor& x);

 private:
  int64_t heads_;
  torch::nn::GroupNorm norm_{nullptr};
  torch::nn::Conv2d qkv_{nullptr}, out_{nullptr};
};
TORCH_MODULE(AttentionBlock);

class UNetImpl : public VelocityFieldImpl {
 public:
  UNetImpl(const ModelConfig& cfg, std::vector<int64_t> sample_shape);
  using VelocityFieldImpl::forward;
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const Cond& c) override;
  std::vector<int64_t> sample_shape() const override { return shape_; }

 private:
  // One stage of the down or up path: a residual block, optionally followed by attention.
  struct Stage {
    ResBlock res{nullptr};
    AttentionBlock attn{nullptr};
  };
  at::Tensor run(Stage& s, const at::Tensor& x, const at::Tensor& emb);

  std::vector<int64_t> shape_;
  int64_t num_classes_;
  TimeEmbedding temb_{nullptr};
  torch::nn::Linear emb1_{nullptr}, emb2_{nullptr};
  torch::nn::Embedding label_emb_{nullptr};
  torch::nn::Conv2d in_{nullptr}, out_{nullptr};
  torch::nn::GroupNorm out_norm_{nullptr};
  std::vector<std::vector<Stage>> down_, up_;     // per level
  std::vector<torch::nn::Conv2d> downsample_, upsample_;  // between levels
  Stage mid1_, mid2_;
};

}  // namespace rflow
