#include "rflow/nn/layers/convnext.h"

#include <torch/torch.h>

namespace rflow {

GlobalResponseNormImpl::GlobalResponseNormImpl(int64_t channels) : channels_(channels) { reset(); }

void GlobalResponseNormImpl::reset() {
  gamma_ = register_parameter("gamma", torch::zeros({channels_}));
  beta_ = register_parameter("beta", torch::zeros({channels_}));
}

at::Tensor GlobalResponseNormImpl::forward(const at::Tensor& x) {
  const at::Tensor g = x.pow(2).sum({1, 2}, true).sqrt();    // [B, 1, 1, C]
  const at::Tensor n = g / (g.mean(-1, true) + 1e-6);
  return x + gamma_ * (x * n) + beta_;
}

ConvNeXtBlockImpl::ConvNeXtBlockImpl(int64_t channels, int64_t cond_dim) : channels_(channels), cond_dim_(cond_dim) {
  reset();
}

void ConvNeXtBlockImpl::reset() {
  const int64_t C = channels_;
  dw_ = register_module("dwconv", torch::nn::Conv2d(torch::nn::Conv2dOptions(C, C, 7).padding(3).groups(C)));
  norm_ = register_module("norm", RMSNorm(C));
  up_ = register_module("pwconv1", torch::nn::Linear(C, 4 * C));
  grn_ = register_module("grn", GlobalResponseNorm(4 * C));
  down_ = register_module("pwconv2", torch::nn::Linear(4 * C, C));
  mod_ = register_module("modulation", torch::nn::Linear(cond_dim_, 2 * C));
  // Zero modulation at the start: the block begins as a plain ConvNeXt block.
  torch::NoGradGuard ng;
  mod_->weight.zero_();
  mod_->bias.zero_();
}

at::Tensor ConvNeXtBlockImpl::forward(const at::Tensor& x, const at::Tensor& t_emb) {
  at::Tensor h = dw_(x).permute({0, 2, 3, 1});  // channels last
  h = down_(grn_(torch::gelu(up_(norm_(h)))));
  h = x + h.permute({0, 3, 1, 2});
  const auto ss = mod_(torch::silu(t_emb)).chunk(2, -1);  // scale, shift [B, C]
  return h * (1 + ss[0].unsqueeze(-1).unsqueeze(-1)) + ss[1].unsqueeze(-1).unsqueeze(-1);
}

}  // namespace rflow
