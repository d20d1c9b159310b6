#include "rflow/nn/mlp.h"

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

namespace {
at::Tensor activate(const std::string& a, const at::Tensor& x) {
  if (a == "silu") return torch::silu(x);
  if (a == "gelu") return torch::gelu(x);
  if (a == "tanh") return torch::tanh(x);
  return torch::relu(x);
}
}  // namespace

MlpVelocityImpl::MlpVelocityImpl(const ModelConfig& cfg, std::vector<int64_t> sample_shape)
    : shape_(std::move(sample_shape)), num_classes_(cfg.num_classes), activation_(cfg.activation) {
  dim_ = 1;
  for (auto s : shape_) dim_ *= s;
  RF_CHECK(dim_ >= 1, "sample shape must be non-empty", "model (mlp)", "");
  temb_ = register_module("temb", std::make_shared<TimeEmbeddingImpl>(cfg.time_embed, cfg.time_dim, cfg.time_scale));
  in_x_ = register_module("in_x", torch::nn::Linear(dim_, cfg.hidden));
  // The bias lives in in_x; the time branch adds a bias-free projection.
  in_t_ = register_module("in_t", torch::nn::Linear(torch::nn::LinearOptions(cfg.time_dim, cfg.hidden).bias(false)));
  if (num_classes_ > 0)
    label_emb_ = register_module("label_emb", torch::nn::Embedding(num_classes_ + 1, cfg.hidden));
  for (int64_t i = 0; i + 1 < cfg.depth; ++i)
    hidden_.push_back(register_module("h" + std::to_string(i), torch::nn::Linear(cfg.hidden, cfg.hidden)));
  out_ = register_module("out", torch::nn::Linear(cfg.hidden, dim_));
}

at::Tensor MlpVelocityImpl::forward(const at::Tensor& x, const at::Tensor& t, const Cond& c) {
  const int64_t B = x.size(0);
  auto h = torch::addmm(in_x_->bias, x.reshape({B, dim_}), in_x_->weight.t());
  h = h.addmm_(temb_->forward(t), in_t_->weight.t());
  if (num_classes_ > 0) {
    // Missing labels and −1 both select the extra "unconditional" row.
    at::Tensor lab = c.labels.defined() ? c.labels.to(torch::kInt64)
                                        : torch::full({B}, -1, x.options().dtype(torch::kInt64));
    lab = torch::where(lab < 0, torch::full_like(lab, num_classes_), lab);
    h = h + label_emb_->forward(lab);
  }
  h = activate(activation_, h);
  for (auto& l : hidden_) h = activate(activation_, l->forward(h));
  auto out = out_->forward(h);
  std::vector<int64_t> shape{B};
  shape.insert(shape.end(), shape_.begin(), shape_.end());
  return out.view(shape);
}

}  // namespace rflow
