#include "rflow/nn/layers/activation.h"

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/layers/silu.h"

namespace rflow {

void check_activation(const std::string& name, const std::string& where) {
  RF_CHECK(name == "silu" || name == "gelu" || name == "tanh" || name == "relu", "unknown activation '" + name + "'",
           where, "use silu, gelu, tanh or relu");
}

at::Tensor activate(const std::string& name, const at::Tensor& x) {
  if (name == "silu") return rflow::silu(x);
  if (name == "gelu") return torch::gelu(x);
  if (name == "tanh") return torch::tanh(x);
  return torch::relu(x);
}

}  // namespace rflow
