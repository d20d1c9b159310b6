#include "rflow/core/vector_kernels.h"

#include <cmath>

// Built with -O3 -fno-math-errno (CMakeLists.txt) so the loops vectorise; three instruction sets,
// chosen at load time.
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

RFLOW_CLONES void lerp(float* __restrict e, const float* __restrict p, int64_t n, float w) {
  for (int64_t i = 0; i < n; ++i) e[i] += w * (p[i] - e[i]);
}

}  // namespace rflow::kernels
