#include "rflow/nn/layers/gelu.h"

#include <torch/torch.h>

#include "rflow/core/kernels/vector_kernels.h"
#include "rflow/nn/layers/pointwise.h"

namespace rflow {

at::Tensor gelu_tanh(const at::Tensor& x) {
  static const PointwiseKernels k{kernels::gelu_tanh, kernels::gelu_tanh_backward,
                                  [](const at::Tensor& v) { return torch::gelu(v, "tanh"); }};
  return pointwise(x, k);
}

}  // namespace rflow
