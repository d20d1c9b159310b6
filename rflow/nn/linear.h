// y = x Wᵀ + b with the GEMMs in oneDNN's sgemm where it is available (fp32 on the CPU, at least
// 32 rows): oneDNN picks its JIT kernels from the CPU itself and trains the products of flow MLPs
// faster than OpenBLAS does (bench_linear, docs/BENCHMARKS.md). Elsewhere (GPU, other dtypes, few
// rows, under bf16 autocast, a LibTorch without an exported oneDNN) it is at::linear. Same values
// to rounding; RFLOW_ONEDNN_GEMM=0 turns the oneDNN path off.
#pragma once

#include <ATen/core/Tensor.h>

namespace rflow {

// x: [..., in], weight: [out, in], bias: [out] or undefined. Differentiable in all three.
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = {});

// Whether linear() can use oneDNN in this process; `set_onednn_gemm` overrides it (tests, benches).
bool onednn_gemm_enabled();
void set_onednn_gemm(bool enabled);

}  // namespace rflow
