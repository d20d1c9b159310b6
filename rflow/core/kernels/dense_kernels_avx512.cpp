// kernels::dense for AVX-512 (compiled with -mavx512f -mfma; called only where the CPU has them).
#include <immintrin.h>

#include "rflow/core/kernels/dense_kernels.h"

namespace rflow::kernels::avx512 {

struct Isa {
  using V = __m512;
  static constexpr int W = 16;
  static constexpr int kAcc = 16;  // of 32 registers: the rest hold W and the broadcast
  static V load(const float* p) { return _mm512_load_ps(p); }
  static V loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void storeu(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V set1(float f) { return _mm512_set1_ps(f); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V zero() { return _mm512_setzero_ps(); }
};

#include "rflow/core/kernels/dense_kernels_tile.h"

void dense(const DenseArgs& d) { dense_all(d); }

}  // namespace rflow::kernels::avx512
