// Scaled dot-product attention, the one function every transformer block of rflow calls: LibTorch's
// fused kernel where it has one (CUDA, no mask), the plain softmax(q·kᵀ·scale)·v otherwise — the
// same numbers to rounding. A row whose keys are all masked attends to nothing and gives 0.
#pragma once

#include <ATen/core/Tensor.h>

namespace rflow {

struct AttentionMask {
  at::Tensor keys;      // [B, Tk] bool, true = present (undefined: all present)
  bool causal = false;  // query i sees keys j ≤ i + (Tk − Tq) (the queries are the last Tq keys)
  // With causal: the last open_tail queries also see all of the last open_tail keys — a block that
  // attends both ways after a causal prefix (an image's tokens after its prompt).
  int64_t open_tail = 0;
};

// Which keys each of the last tq of tk tokens may see under a causal mask with an open tail
// (AttentionMask): bool [tq, tk], on the device of `like`. MLA's absorbed decode masks with it too.
at::Tensor causal_allowed(int64_t tq, int64_t tk, int64_t open_tail, const at::Tensor& like);

// q [B, H, Tq, D], k [B, H, Tk, D], v [B, H, Tk, Dv] → [B, H, Tq, Dv]; scale ≤ 0: 1/√D.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionMask& mask = {},
                     double scale = 0.0);

}  // namespace rflow
