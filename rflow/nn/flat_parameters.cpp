#include "rflow/nn/flat_parameters.h"

#include <torch/torch.h>

namespace rflow {

FlatParameters::FlatParameters(torch::nn::Module& module, bool with_grad) {
  auto params = module.parameters();
  if (params.empty()) return;
  const auto opts = params[0].options();
  int64_t n = 0;
  std::vector<int64_t> offsets;
  for (const auto& p : params) {
    if (p.scalar_type() != opts.dtype().toScalarType() || p.device() != opts.device() || p.is_sparse()) return;
    // A frozen parameter would get a zero gradient and still decay under AdamW; torch's optimizers
    // skip it. Such models keep the per-tensor path.
    if (with_grad && !p.requires_grad()) return;
    offsets.push_back(n);
    n += p.numel();
  }
  torch::NoGradGuard ng;
  data_ = torch::empty({n}, opts.requires_grad(false));
  if (with_grad) grad_ = torch::zeros({n}, opts.requires_grad(false));
  for (size_t i = 0; i < params.size(); ++i) {
    auto& p = params[i];
    auto view = data_.narrow(0, offsets[i], p.numel()).view(p.sizes());
    view.copy_(p.detach());
    // set_data keeps the parameter's TensorImpl, so optimizer state keyed by it stays valid.
    p.set_data(view);
    if (with_grad) p.mutable_grad() = grad_.narrow(0, offsets[i], p.numel()).view(p.sizes());
  }
  params_ = std::move(params);
  offsets_ = std::move(offsets);
}

bool FlatParameters::intact() const {
  if (!defined()) return false;
  const auto esize = data_.element_size();
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto* want = static_cast<const char*>(data_.data_ptr()) + offsets_[i] * esize;
    if (params_[i].data_ptr() != want) return false;
    if (grad_.defined()) {
      const auto& g = params_[i].grad();
      if (!g.defined() || g.data_ptr() != static_cast<const char*>(grad_.data_ptr()) + offsets_[i] * esize) return false;
    }
  }
  return true;
}

at::Tensor FlatParameters::slice(const at::Tensor& buffer, size_t i) const {
  return buffer.narrow(0, offsets_[i], params_[i].numel()).view(params_[i].sizes());
}

}  // namespace rflow
