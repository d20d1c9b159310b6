// Temporal U-Net velocity field for action chunks (the 1-D convolutional backbone of diffusion and
// flow policies): a chunk [H, A] is A channels over H time steps; residual conv blocks, each
// modulated (FiLM: scale and shift per channel) by one conditioning vector made of emb(t), the
// observation and the label; the time axis halves at each level while it is even. Neighbouring
// moves of a chunk share filters, which an MLP over the flattened chunk has to learn per position.
#pragma once

#include <string>
#include <vector>

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "rflow/flow/velocity_field.h"
#include "rflow/nn/model_config.h"
#include "rflow/nn/policy_head.h"
#include "rflow/nn/layers/time_embedding.h"

namespace rflow {

struct TemporalUNetOptions {
  int64_t channels = 64;
  std::vector<int64_t> channel_mult{1, 2};
  int64_t kernel = 3;
  int64_t norm_groups = 8;
  int64_t time_dim = 64;
  int64_t obs_dim = 0;
  int64_t variance_hidden = 0;
  int64_t variance_depth = 2;

  template <class V>
  void visit(V& v) {
    v("channels", channels, "channels at the chunk's full length");
    v("channel_mult", channel_mult, "channel multiplier per level (each level after the first halves the time axis while it is even)");
    v("kernel", kernel, "convolution width along the chunk (odd)");
    v("norm_groups", norm_groups, "GroupNorm groups (must divide every level's channels)");
    v("time_dim", time_dim, "time embedding size (even)");
    visit_policy_keys(v, obs_dim, variance_hidden, variance_depth);
  }
  void validate(const std::string& where) const;
};

// conv → GroupNorm·SiLU → FiLM(cond) → conv → GroupNorm·SiLU, plus the (projected) input.
class TemporalBlockImpl : public torch::nn::Cloneable<TemporalBlockImpl> {
 public:
  TemporalBlockImpl(int64_t in, int64_t out, int64_t cond_dim, int64_t kernel, int64_t groups);
  void reset() override;
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cond);  // x [B, in, L], cond [B, cond_dim]

 private:
  int64_t in_, out_, cond_dim_, kernel_, groups_;
  torch::nn::Conv1d conv1_{nullptr}, conv2_{nullptr}, skip_{nullptr};
  torch::nn::GroupNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Linear film_{nullptr};
};
TORCH_MODULE(TemporalBlock);

class TemporalUNetImpl : public CloneableField<TemporalUNetImpl> {
 public:
  // sample_shape {H, A}: a chunk of H steps of A numbers; {A}: one step.
  TemporalUNetImpl(TemporalUNetOptions opt, std::vector<int64_t> sample_shape, int64_t num_classes = 0,
                   std::string time_embed = "sinusoidal", double time_scale = 100.0);
  void reset() override;
  using VelocityFieldImpl::forward;
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const Cond& c) override;
  std::vector<int64_t> sample_shape() const override { return shape_; }
  at::Tensor variance(const at::Tensor& x, const at::Tensor& t, const Cond& c) override;
  const TemporalUNetOptions& options() const { return opt_; }

 private:
  at::Tensor observations(const Cond& c, int64_t B) const;
  TemporalUNetOptions opt_;
  std::vector<int64_t> shape_;
  int64_t horizon_ = 1, action_ = 1;
  int64_t num_classes_;
  std::string time_embed_;
  double time_scale_;
  std::vector<bool> halves_;  // per level below the top: whether the time axis is halved into it
  TimeEmbedding temb_{nullptr};
  torch::nn::Linear emb1_{nullptr}, emb2_{nullptr}, obs_emb_{nullptr};
  torch::nn::Embedding label_emb_{nullptr};
  torch::nn::Conv1d in_conv_{nullptr}, out_{nullptr};
  torch::nn::GroupNorm out_norm_{nullptr};
  std::vector<std::pair<TemporalBlock, TemporalBlock>> down_, up_;
  std::vector<torch::nn::Conv1d> downsample_;
  std::vector<torch::nn::Conv1d> upsample_;
  TemporalBlock mid1_{nullptr}, mid2_{nullptr};
  VarianceHead var_;
};

ModelEntry temporal_unet_entry();

}  // namespace rflow
