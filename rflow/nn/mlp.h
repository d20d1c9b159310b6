// MLP velocity field for flat data (2-D toys, tabular, latents): [x, emb(t) (, emb(label))] →
// hidden layers → velocity. The first layer is split per input so the concatenation is never
// materialised, which matters at batch 256 where per-op overhead dominates.
#pragma once

#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include "rflow/flow/velocity_field.h"
#include "rflow/nn/model_config.h"
#include "rflow/nn/time_embedding.h"

namespace rflow {

class MlpVelocityImpl : public VelocityFieldImpl {
 public:
  MlpVelocityImpl(const ModelConfig& cfg, std::vector<int64_t> sample_shape);
  using VelocityFieldImpl::forward;
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const Cond& c) override;
  std::vector<int64_t> sample_shape() const override { return shape_; }

 private:
  std::vector<int64_t> shape_;
  int64_t dim_;
  int64_t num_classes_;
  std::string activation_;
  TimeEmbedding temb_{nullptr};
  torch::nn::Linear in_x_{nullptr}, in_t_{nullptr}, out_{nullptr};
  torch::nn::Embedding label_emb_{nullptr};
  std::vector<torch::nn::Linear> hidden_;
};

}  // namespace rflow
