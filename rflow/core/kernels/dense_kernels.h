// Small dense layers on raw floats for batch-1–64 inference, where LibTorch's per-op overhead
// outweighs the arithmetic: y = init + x · W with W packed once (K × Np, row-major, Np a multiple
// of 16, 64-byte aligned). Register-tiled AVX-512 and AVX2 kernels and a portable one, picked
// for the CPU at first use (RFLOW_DENSE_ISA=avx512|avx2|portable overrides).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rflow::kernels {

struct DenseArgs {
  const float* x = nullptr;  // rows × k, row stride ldx
  int64_t ldx = 0, k = 0;
  const float* w = nullptr;  // k × np, packed (see above)
  int64_t np = 0;
  const float* const* init = nullptr;  // per row: np floats the sums start from (bias, added terms)
  float* y = nullptr;                  // rows × np, row stride ldy
  int64_t ldy = 0, rows = 0;
};

// y[r] = init[r] + x[r] · W for every row.
void dense(const DenseArgs& a);

// The instruction set dense() uses, and the ones this CPU and build can run (best first).
std::string dense_isa();
std::vector<std::string> dense_isas();
// Switches dense() to `isa` (tests, benches); false when this CPU or build cannot run it.
bool use_dense_isa(const std::string& isa);

constexpr int64_t kDensePad = 16;  // np and the packing's column padding
inline int64_t dense_padded(int64_t n) { return (n + kDensePad - 1) / kDensePad * kDensePad; }

}  // namespace rflow::kernels
