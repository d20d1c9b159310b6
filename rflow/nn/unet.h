// U-Net velocity field for images [C, H, W] (DDPM / NCSN++-style, scaled down): a sinusoidal time
// embedding (plus a label embedding for class-conditional models, label −1 = "no label" for CFG)
// feeds every residual block; blocks use GroupNorm + SiLU, dropout, and self-attention at the
// resolutions listed in attn_resolutions. The output conv starts at zero, so an untrained model
// predicts v = 0 and early training is stable.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "rflow/flow/velocity_field.h"
#include "rflow/nn/model_config.h"
#include "rflow/nn/layers/time_embedding.h"

namespace rflow {

struct UNetOptions {
  int64_t channels = 32;
  std::vector<int64_t> channel_mult{1, 2, 2};
  int64_t res_blocks = 2;
  std::vector<int64_t> attn_resolutions{7};
  int64_t heads = 4;
  int64_t norm_groups = 8;
  double dropout = 0.0;

  template <class V>
  void visit(V& v) {
    v("channels", channels, "channels at full resolution");
    v("channel_mult", channel_mult, "channel multiplier per resolution level (each level after the first halves H and W)");
    v("res_blocks", res_blocks, "residual blocks per level");
    v("attn_resolutions", attn_resolutions, "feature-map sizes (H) with self-attention, e.g. [7] or [14, 7] at 28×28");
    v("heads", heads, "attention heads");
    v("norm_groups", norm_groups, "GroupNorm groups (must divide every level's channels)");
    v("dropout", dropout, "dropout inside residual blocks (the reference: 0.1–0.15)");
  }
  void validate(const std::string& where) const;
};

class ResBlockImpl : public torch::nn::Cloneable<ResBlockImpl> {
 public:
  ResBlockImpl(int64_t in, int64_t out, int64_t emb_dim, int64_t groups, double dropout);
  void reset() override;
  at::Tensor forward(const at::Tensor& x, const at::Tensor& emb);

 private:
  torch::nn::GroupNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, skip_{nullptr};
  torch::nn::Linear emb_{nullptr};
  int64_t in_, out_, emb_dim_, groups_;
  double dropout_;
};
TORCH_MODULE(ResBlock);

class AttentionBlockImpl : public torch::nn::Cloneable<AttentionBlockImpl> {
 public:
  AttentionBlockImpl(int64_t channels, int64_t heads, int64_t groups);
  void reset() override;
  at::Tensor forward(const at::Tensor& x);

 private:
  int64_t channels_, heads_, groups_;
  torch::nn::GroupNorm norm_{nullptr};
  torch::nn::Conv2d qkv_{nullptr}, out_{nullptr};
};
TORCH_MODULE(AttentionBlock);

class UNetImpl : public CloneableField<UNetImpl> {
 public:
  UNetImpl(UNetOptions opt, std::vector<int64_t> sample_shape, int64_t num_classes = 0,
           std::string time_embed = "sinusoidal", double time_scale = 100.0);
  void reset() override;
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

  UNetOptions opt_;
  std::vector<int64_t> shape_;
  int64_t num_classes_;
  std::string time_embed_;
  double time_scale_;
  TimeEmbedding temb_{nullptr};
  torch::nn::Linear emb1_{nullptr}, emb2_{nullptr};
  torch::nn::Embedding label_emb_{nullptr};
  torch::nn::Conv2d in_{nullptr}, out_{nullptr};
  torch::nn::GroupNorm out_norm_{nullptr};
  std::vector<std::vector<Stage>> down_, up_;     // per level
  std::vector<torch::nn::Conv2d> downsample_, upsample_;  // between levels
  Stage mid1_, mid2_;
};

ModelEntry unet_entry();

}  // namespace rflow
