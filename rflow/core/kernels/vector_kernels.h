// Single-pass loops over raw float arrays for whole-model updates (Adam, EMA) and the SiLU and
// GELU activations: one read and one write of each buffer instead of one per ATen op. Compiled for AVX-512, AVX2 and baseline x86-64,
// picked at load time by the CPU (GCC target_clones). Callers split the range across threads.
#pragma once

#include <cstdint>

namespace rflow::kernels {

struct AdamStep {
  float beta1, beta2, eps;
  float step_size;        // lr / (1 − beta1^t)
  float inv_sqrt_bias2;   // 1 / sqrt(1 − beta2^t)
  float grad_scale;       // gradient clipping factor (1 = none)
  float weight_decay;     // L2 (Adam) or decoupled (AdamW)
  float decay_factor;     // AdamW: 1 − lr·wd applied to p first; 1 otherwise
  bool l2;                // Adam's coupled weight decay
};

// p, m, v updated in place from g over [0, n).
void adam(float* p, float* m, float* v, const float* g, int64_t n, const AdamStep& s);
// The same update, also returning Σ g² of the raw gradients it read (the norm at no extra pass).
double adam_sumsq(float* p, float* m, float* v, const float* g, int64_t n, const AdamStep& s);

// e ← e + w (p − e) over [0, n).
void lerp(float* e, const float* p, int64_t n, float w);

// y = x · sigmoid(x) over [0, n).
void silu(const float* x, float* y, int64_t n);

// dx = g · s · (1 + x (1 − s)), s = sigmoid(x), over [0, n): SiLU's derivative, recomputed from x.
void silu_backward(const float* g, const float* x, float* dx, int64_t n);

// y = gelu_tanh(x) = x · sigmoid(2u), u = √(2/π)(x + 0.044715 x³) (GELU's tanh form), over [0, n).
void gelu_tanh(const float* x, float* y, int64_t n);

// dx = g · gelu_tanh'(x) over [0, n), the derivative recomputed from x.
void gelu_tanh_backward(const float* g, const float* x, float* dx, int64_t n);

// GroupNorm + SiLU building blocks (one group's or one channel's contiguous values):
// mean and 1/sqrt(biased variance + eps) of x[0, n), two passes.
void mean_rstd(const float* x, int64_t n, float eps, float* mean, float* rstd);
// y = silu(a·x + b) over [0, n): a channel's normalisation and affine folded into a and b.
void affine_silu(const float* x, float* y, int64_t n, float a, float b);
// dz = dy · silu'(a·x + b) over [0, n); also Σ dz and Σ dz·x (what GroupNorm's backward needs).
void affine_silu_backward(const float* dy, const float* x, float* dz, int64_t n, float a, float b, double* sum_dz,
                          double* sum_dz_x);
// d ← p·d + q·x + r over [0, n).
void scale_add_affine(float* d, const float* x, int64_t n, float p, float q, float r);

}  // namespace rflow::kernels
