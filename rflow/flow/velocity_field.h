// The VelocityField contract: every backbone (MLP, U-Net, DiT, a wrapped TorchScript module) is a
// torch::nn::Module mapping (x [B, ...], t [B], cond) to a velocity with x's shape. Solvers,
// methods and the trainer only ever see this interface.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <torch/nn/module.h>

namespace rflow {

// Optional conditioning. Undefined tensors mean "absent"; labels use −1 for dropped/unconditional.
struct Cond {
  at::Tensor labels;   // [B] int64
  at::Tensor context;  // [B, T, D]
  at::Tensor mask;     // [B, T]
  std::map<std::string, at::Tensor> extra;

  bool empty() const { return !labels.defined() && !context.defined() && extra.empty(); }
};

class VelocityFieldImpl : public torch::nn::Module {
 public:
  virtual at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const Cond& c) = 0;
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t) { return forward(x, t, Cond{}); }
  // Shape of one sample (without the batch dimension), e.g. {2} or {1, 28, 28}.
  virtual std::vector<int64_t> sample_shape() const = 0;
};

using VelocityField = std::shared_ptr<VelocityFieldImpl>;

}  // namespace rflow
