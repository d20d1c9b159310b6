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

// While one is alive on a thread, backward passes run there by linear()'s oneDNN path add the
// weight and bias gradients straight into the parameters' existing .grad tensors (GEMM with
// β = 1) instead of handing new tensors to autograd to accumulate: one pass and one autograd node
// fewer per parameter. For a trainer whose gradients live in flat buffers that are zeroed before
// each backward; a parameter without a .grad (or with a non-contiguous one, or with a tensor hook)
// takes the usual route, and torch::autograd::grad calls that do not ask for the parameters never
// write them.
class DirectWeightGradients {
 public:
  DirectWeightGradients();
  ~DirectWeightGradients();
  DirectWeightGradients(const DirectWeightGradients&) = delete;
  DirectWeightGradients& operator=(const DirectWeightGradients&) = delete;

 private:
  bool previous_;
};

// Whether linear() can use oneDNN in this process; `set_onednn_gemm` overrides it (tests, benches).
bool onednn_gemm_enabled();
void set_onednn_gemm(bool enabled);

}  // namespace rflow
