// kernels::dense for AVX2 + FMA (compiled with -mavx2 -mfma; called only where the CPU has them).
#include <immintrin.h>

#include "rflow/core/kernels/dense_kernels.h"

namespace rflow::kernels::avx2 {

struct Isa {
  using V = __m256;
  static constexpr int W = 8;
  static constexpr int kAcc = 8;  // of 16 registers
  static V load(const float* p) { return _mm256_load_ps(p); }
  static V loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V set1(float f) { return _mm256_set1_ps(f); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V zero() { return _mm256_setzero_ps(); }
};

#include "rflow/core/kernels/dense_kernels_tile.h"

void dense(const DenseArgs& d) { dense_all(d); }

}  // namespace rflow::kernels::avx2
