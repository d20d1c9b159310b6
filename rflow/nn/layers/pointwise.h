// One pass forward and one backward of an elementwise activation on fp32 CPU tensors, from a pair
// of vectorised loops (rflow/core/kernels/vector_kernels.h) with the derivative recomputed from x, so
// autograd saves x alone. Other devices, dtypes and layouts take the given ATen fallback.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace rflow {

struct PointwiseKernels {
  void (*forward)(const float* x, float* y, int64_t n);
  void (*backward)(const float* g, const float* x, float* dx, int64_t n);
  at::Tensor (*fallback)(const at::Tensor& x);
};

at::Tensor pointwise(const at::Tensor& x, const PointwiseKernels& k);

}  // namespace rflow
