#include "rflow/core/kernels/vector_kernels.h"

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

namespace {

constexpr int kLanes = 16;  // independent partial sums: reductions that vectorise without -ffast-math

inline double lane_total(const float* lane) {
  double t = 0;
  for (int j = 0; j < kLanes; ++j) t += lane[j];
  return t;
}

// One Adam update of element i; returns the raw gradient (for the optional norm).
inline float adam_element(float* __restrict p, float* __restrict m, float* __restrict v, const float* __restrict g,
                          int64_t i, const AdamStep& s) {
  const float pi = p[i] * s.decay_factor;
  const float raw = g[i];
  const float gi = raw * s.grad_scale + (s.l2 ? s.weight_decay : 0.0f) * pi;
  const float mi = s.beta1 * m[i] + (1 - s.beta1) * gi;
  const float vi = s.beta2 * v[i] + (1 - s.beta2) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  p[i] = pi - s.step_size * mi / (std::sqrt(vi) * s.inv_sqrt_bias2 + s.eps);
  return raw;
}

}  // namespace

RFLOW_CLONES void adam(float* __restrict p, float* __restrict m, float* __restrict v, const float* __restrict g,
                       int64_t n, const AdamStep& s) {
  for (int64_t i = 0; i < n; ++i) adam_element(p, m, v, g, i, s);
}

RFLOW_CLONES double adam_sumsq(float* __restrict p, float* __restrict m, float* __restrict v,
                               const float* __restrict g, int64_t n, const AdamStep& s) {
  float lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      const float gi = adam_element(p, m, v, g, i + j, s);
      lane[j] += gi * gi;
    }
  double sum = lane_total(lane);
  for (; i < n; ++i) {
    const float gi = adam_element(p, m, v, g, i, s);
    sum += static_cast<double>(gi) * gi;
  }
  return sum;
}

namespace {

// exp(x) for the activation loops, written so that it vectorises (libm's expf does not without
// -ffast-math): x = k·ln2 + r with |r| ≤ ln2/2 (ln2 split in two for the subtraction), e^r by a
// degree-6 polynomial (Cephes' expf coefficients), 2^k through the exponent bits. Relative error
// ≈ 2e-7; inputs are clamped to [-87, 88] (sigmoid needs no more). The clamp is written so that a
// NaN lands on -87: converting NaN to an integer, and shifting the result, would be undefined (the
// callers' z still carries the NaN into their output).
inline float exp_approx(float x) {
  x = x > -87.0f ? x : -87.0f;
  x = x < 88.0f ? x : 88.0f;
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
  const uint32_t bits = static_cast<uint32_t>(k + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return e * scale;
}

inline float silu_of(float z) { return z / (1.0f + exp_approx(-z)); }

// d silu(z) / dz = s (1 + z (1 − s)), s = sigmoid(z).
inline float silu_slope(float z) {
  const float s = 1.0f / (1.0f + exp_approx(-z));
  return s * (1.0f + z * (1.0f - s));
}

// GELU's tanh form as a sigmoid: 0.5·x·(1 + tanh(u)) = x·sigmoid(2u).
constexpr float kGelu2 = 1.5957691216057308f;  // 2·√(2/π)
inline float gelu_z(float x) { return kGelu2 * (x + 0.044715f * x * x * x); }
inline float gelu_of(float x) { return x / (1.0f + exp_approx(-gelu_z(x))); }
// d/dx x·s(z) = s + x·s(1 − s)·z'(x). Beyond |x| = 10 the slope is 1 or 0 to float precision; x
// is clamped there so that a saturated s times a huge x³ never makes 0 · inf (a NaN stays NaN).
inline float gelu_slope(float x) {
  x = x < -10.0f ? -10.0f : (x > 10.0f ? 10.0f : x);
  const float s = 1.0f / (1.0f + exp_approx(-gelu_z(x)));
  return s + x * s * (1.0f - s) * kGelu2 * (1.0f + 3.0f * 0.044715f * x * x);
}

}  // namespace

RFLOW_CLONES void gelu_tanh(const float* __restrict x, float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = gelu_of(x[i]);
}

RFLOW_CLONES void gelu_tanh_backward(const float* __restrict g, const float* __restrict x, float* __restrict dx,
                                     int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = g[i] * gelu_slope(x[i]);
}

RFLOW_CLONES void silu(const float* __restrict x, float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = silu_of(x[i]);
}

RFLOW_CLONES void silu_backward(const float* __restrict g, const float* __restrict x, float* __restrict dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = g[i] * silu_slope(x[i]);
}

RFLOW_CLONES void lerp(float* __restrict e, const float* __restrict p, int64_t n, float w) {
  for (int64_t i = 0; i < n; ++i) e[i] += w * (p[i] - e[i]);
}

RFLOW_CLONES void mean_rstd(const float* __restrict x, int64_t n, float eps, float* mean, float* rstd) {
  // Two passes (mean, then squared deviations): no cancellation when the mean dwarfs the spread.
  float lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) lane[j] += x[i + j];
  double sum = lane_total(lane);
  for (; i < n; ++i) sum += x[i];
  const float mu = static_cast<float>(sum / static_cast<double>(n));
  float sq[kLanes] = {};
  for (i = 0; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      const float d = x[i + j] - mu;
      sq[j] += d * d;
    }
  double ss = lane_total(sq);
  for (; i < n; ++i) ss += static_cast<double>(x[i] - mu) * (x[i] - mu);
  *mean = mu;
  *rstd = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
}

RFLOW_CLONES void affine_silu(const float* __restrict x, float* __restrict y, int64_t n, float a, float b) {
  for (int64_t i = 0; i < n; ++i) y[i] = silu_of(x[i] * a + b);
}

RFLOW_CLONES void affine_silu_backward(const float* __restrict dy, const float* __restrict x, float* __restrict dz,
                                       int64_t n, float a, float b, double* sum_dz, double* sum_dz_x) {
  float s1[kLanes] = {}, s2[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      const float d = dy[i + j] * silu_slope(x[i + j] * a + b);
      dz[i + j] = d;
      s1[j] += d;
      s2[j] += d * x[i + j];
    }
  double t1 = lane_total(s1), t2 = lane_total(s2);
  for (; i < n; ++i) {
    const float d = dy[i] * silu_slope(x[i] * a + b);
    dz[i] = d;
    t1 += d;
    t2 += static_cast<double>(d) * x[i];
  }
  *sum_dz = t1;
  *sum_dz_x = t2;
}

RFLOW_CLONES void scale_add_affine(float* __restrict d, const float* __restrict x, int64_t n, float p, float q, float r) {
  for (int64_t i = 0; i < n; ++i) d[i] = p * d[i] + q * x[i] + r;
}

}  // namespace rflow::kernels
