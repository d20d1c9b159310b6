#include "rflow/nn/layers/silu.h"

#include <torch/torch.h>

#include "rflow/core/kernels/vector_kernels.h"
#include "rflow/nn/layers/pointwise.h"

namespace rflow {

at::Tensor silu(const at::Tensor& x) {
  static const PointwiseKernels k{kernels::silu, kernels::silu_backward,
                                  [](const at::Tensor& v) { return torch::silu(v); }};
  return pointwise(x, k);
}

}  // namespace rflow
