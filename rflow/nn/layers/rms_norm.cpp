#include "rflow/nn/layers/rms_norm.h"

#include <torch/torch.h>

namespace rflow {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : dim_(dim), eps_(eps) { reset(); }

void RMSNormImpl::reset() { weight = register_parameter("weight", torch::ones({dim_})); }

at::Tensor RMSNormImpl::forward(const at::Tensor& x) {
  return x * torch::rsqrt(x.pow(2).mean(-1, true) + eps_) * weight;
}

}  // namespace rflow
