// The VelocityField contract: every backbone (MLP, U-Net, DiT, a wrapped TorchScript module) is a
// torch::nn::Module mapping (x [B, ...], t [B], cond) to a velocity with x's shape. Solvers,
// methods and the trainer only ever see this interface. Backbones also derive from
// torch::nn::Cloneable<Self> (Module is a virtual base of both), so EMA and target copies are clones.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "rflow/flow/cond.h"

namespace rflow {

class VelocityFieldImpl : public virtual torch::nn::Module {
 public:
  virtual at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const Cond& c) = 0;
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t) { return forward(x, t, Cond{}); }
  // Shape of one sample (without the batch dimension), e.g. {2} or {1, 28, 28}.
  virtual std::vector<int64_t> sample_shape() const = 0;
};

using VelocityField = std::shared_ptr<VelocityFieldImpl>;

// A deep copy (torch::nn::Cloneable): same weights, separate storage, optionally on another
// device. The global RNG state is kept, so a clone never shifts a seeded run's random draws.
// Throws rflow::Error naming the backbone if it is not cloneable.
VelocityField clone_field(const VelocityFieldImpl& field, const std::optional<c10::Device>& device = std::nullopt);

}  // namespace rflow
