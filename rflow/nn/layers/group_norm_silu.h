// silu(group_norm(x)): the normalisation every U-Net block applies before a convolution, as one
// fused pass forward and two backward on fp32 CPU tensors (statistics per group, each channel's
// normalisation and affine folded into one multiply-add in front of the SiLU). Saves the separate
// SiLU pass, its autograd node and its buffer; elsewhere (GPU, other dtypes) it is the two ATen ops.
#pragma once

#include <ATen/core/Tensor.h>

namespace rflow {

// x: [N, C, *]; weight, bias: [C] (GroupNorm's affine) or both undefined. Differentiable once in
// x, weight and bias (no double backward on the fused path).
at::Tensor group_norm_silu(const at::Tensor& x, int64_t groups, const at::Tensor& weight, const at::Tensor& bias,
                           double eps = 1e-5);

}  // namespace rflow
