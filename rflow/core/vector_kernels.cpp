#include "rflow/core/vector_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

// Built with -O3 -fno-math-errno -fno-trapping-math (CMakeLists.txt) so the loops vectorise;
// three instruction sets, chosen at load time.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define RFLOW_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RFLOW_CLONES
#endif

namespace rflow::kernels {

RFLOW_CLONES void adam(float* __restrict p, float* __restrict m, float* __restrict v, const float* __restrict g,
                       int64_t n, const AdamStep& s) {
  const float b1 = s.beta1, b2 = s.beta2, c1 = 1 - s.beta1, c2 = 1 - s.beta2, eps = s.eps;
  const float step = s.step_size, inv_b2 = s.inv_sqrt_bias2, scale = s.grad_scale;
  const float wd = s.l2 ? s.weight_decay : 0.0f, keep = s.decay_factor;
  for (int64_t i = 0; i < n; ++i) {
    const float pi = p[i] * keep;
    const float gi = g[i] * scale + wd * pi;
    const float mi = b1 * m[i] + c1 * gi;
    const float vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - step * mi / (std::sqrt(vi) * inv_b2 + eps);
  }
}

namespace {

// exp(x) for the activation loops, written so that it vectorises (libm's expf does not without
// -ffast-math): x = k·ln2 + r with |r| ≤ ln2/2 (ln2 split in two for the subtraction), e^r by a
// degree-6 polynomial (Cephes' expf coefficients), 2^k through the exponent bits. Relative error
// ≈ 2e-7; inputs are clamped to [-87, 88] (sigmoid needs no more).
inline float exp_approx(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float fk = x * 1.44269504088896341f + std::copysign(0.5f, x);
  const int32_t k = static_cast<int32_t>(fk);  // rounds to nearest through the ±0.5
  const float kf = static_cast<float>(k);
  const float r = (x - kf * 0.693359375f) + kf * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;
  const int32_t bits = (k + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return e * scale;
}

}  // namespace

RFLOW_CLONES void silu(const float* __restrict x, float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.0f + exp_approx(-x[i]));
}

RFLOW_CLONES void silu_backward(const float* __restrict g, const float* __restrict x, float* __restrict dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float s = 1.0f / (1.0f + exp_approx(-x[i]));
    dx[i] = g[i] * s * (1.0f + x[i] * (1.0f - s));
  }
}

RFLOW_CLONES void lerp(float* __restrict e, const float* __restrict p, int64_t n, float w) {
  for (int64_t i = 0; i < n; ++i) e[i] += w * (p[i] - e[i]);
}

}  // namespace rflow::kernels
