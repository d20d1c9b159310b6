// SiLU (x · sigmoid(x)) as one vectorised pass forward and one backward on fp32 CPU tensors, with
// the derivative recomputed from x (nothing extra saved). ATen's kernel costs 2–3× more here, on a
// small MLP about a tenth of a training step. Elsewhere it is torch::silu.
#pragma once

#include <ATen/core/Tensor.h>

namespace rflow {

at::Tensor silu(const at::Tensor& x);

}  // namespace rflow
