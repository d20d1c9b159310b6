// kernels::dense on every instruction set this CPU runs against a double-precision reference:
// shapes that hit every tile width and row remainder, row strides, per-row starts, and the packing
// contract (padding columns stay whatever the starts say).
#include <cmath>
#include <cstdlib>
#include <random>

#include <gtest/gtest.h>

#include "rflow/core/kernels/dense_kernels.h"

using namespace rflow;

namespace {
struct IsaGuard {  // restores the kernel choice after a test switched it
  std::string before = kernels::dense_isa();
  ~IsaGuard() { kernels::use_dense_isa(before); }
};
}  // namespace

TEST(DenseKernels, EveryInstructionSetMatchesADoubleReference) {
  IsaGuard guard;
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  const auto isas = kernels::dense_isas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.back(), "portable");
  for (const auto& isa : isas) {
    ASSERT_TRUE(kernels::use_dense_isa(isa));
    EXPECT_EQ(kernels::dense_isa(), isa);
    for (int64_t k : {1, 2, 7, 64, 256})
      for (int64_t n : {1, 5, 16, 40, 100, 256, 300})
        for (int64_t rows : {1, 2, 3, 4, 5, 7, 64}) {
          const int64_t np = kernels::dense_padded(n), ldx = k + 3, ldy = np + 16;
          std::vector<float> x(rows * ldx), starts(rows * np), y(rows * ldy, -7.0f);
          float* w = static_cast<float*>(std::aligned_alloc(64, k * np * sizeof(float)));
          for (int64_t i = 0; i < k * np; ++i) w[i] = (i % np) < n ? nd(rng) : 0.0f;
          for (auto& v : x) v = nd(rng);
          for (auto& v : starts) v = nd(rng);
          std::vector<const float*> init(rows);
          for (int64_t r = 0; r < rows; ++r) init[r] = &starts[r * np];
          kernels::DenseArgs d;
          d.x = x.data(), d.ldx = ldx, d.k = k, d.w = w, d.np = np, d.init = init.data();
          d.y = y.data(), d.ldy = ldy, d.rows = rows;
          kernels::dense(d);
          double worst = 0;
          for (int64_t r = 0; r < rows; ++r) {
            for (int64_t j = 0; j < np; ++j) {
              double want = starts[r * np + j], scale = std::abs(want);
              for (int64_t i = 0; i < k; ++i) {
                want += double(x[r * ldx + i]) * w[i * np + j];
                scale += std::abs(double(x[r * ldx + i]) * w[i * np + j]);
              }
              // Float rounding of a k-term sum, relative to the terms' magnitude (one wrong or
              // missing term would be ~1/k of it).
              worst = std::max(worst, std::abs(want - y[r * ldy + j]) / (scale + 1e-30));
            }
            for (int64_t j = np; j < ldy; ++j) ASSERT_EQ(y[r * ldy + j], -7.0f) << "wrote past np";
          }
          EXPECT_LT(worst, 1e-6) << isa << " k=" << k << " n=" << n << " rows=" << rows;
          std::free(w);
        }
  }
  EXPECT_FALSE(kernels::use_dense_isa("no-such-isa"));
}
