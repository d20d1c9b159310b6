// BLAS kernel selection: the level table, the candidate order, and on this machine that the kernels
// running fit the CPU and compute the same products as a double-precision reference.
#include <cstdlib>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/kernels/blas_kernels.h"
#include "rflow/core/kernels/cpu_features.h"

using namespace rflow;

namespace {

bool all_cores(const std::string&) { return true; }
bool no_cooperlake(const std::string& core) { return core != "Cooperlake"; }
bool no_cores(const std::string&) { return false; }

CpuFeatures avx512_cpu(bool bf16) {
  CpuFeatures f;
  f.vendor = "GenuineIntel";
  f.sse3 = f.avx = f.fma = f.avx2 = true;
  f.avx512f = f.avx512dq = f.avx512bw = f.avx512vl = true;
  f.avx512_bf16 = bf16;
  return f;
}

}  // namespace

TEST(BlasKernels, CoreLevelsFollowTheInstructionSetTheyUse) {
  EXPECT_EQ(openblas_core_level("Prescott"), IsaLevel::Sse3);
  EXPECT_EQ(openblas_core_level("NEHALEM"), IsaLevel::Sse3);  // names compare case-insensitively
  EXPECT_EQ(openblas_core_level("Sandybridge"), IsaLevel::Avx);
  EXPECT_EQ(openblas_core_level("Haswell"), IsaLevel::Avx2);
  EXPECT_EQ(openblas_core_level("Zen"), IsaLevel::Avx2);
  EXPECT_EQ(openblas_core_level("SkylakeX"), IsaLevel::Avx512);
  EXPECT_EQ(openblas_core_level("Cooperlake"), IsaLevel::Avx512);
  EXPECT_EQ(openblas_core_level("SomethingNew"), IsaLevel::Unknown);  // never "upgraded" blindly
}

TEST(BlasKernels, CandidatesAreBetterThanTheCurrentCoreAndNoBetterThanTheCpu) {
  using V = std::vector<std::string>;
  EXPECT_EQ(openblas_upgrade_candidates(avx512_cpu(true), IsaLevel::Sse3, &all_cores),
            (V{"Cooperlake", "SkylakeX", "Haswell", "Sandybridge"}));
  EXPECT_EQ(openblas_upgrade_candidates(avx512_cpu(false), IsaLevel::Sse3, &all_cores),
            (V{"SkylakeX", "Haswell", "Sandybridge"}));
  EXPECT_EQ(openblas_upgrade_candidates(avx512_cpu(true), IsaLevel::Avx2, &all_cores), (V{"Cooperlake", "SkylakeX"}));
  EXPECT_EQ(openblas_upgrade_candidates(avx512_cpu(true), IsaLevel::Sse3, &no_cooperlake),
            (V{"SkylakeX", "Haswell", "Sandybridge"}));
  EXPECT_TRUE(openblas_upgrade_candidates(avx512_cpu(true), IsaLevel::Avx512, &all_cores).empty());
  EXPECT_TRUE(openblas_upgrade_candidates(avx512_cpu(true), IsaLevel::Sse3, &no_cores).empty());

  CpuFeatures amd = avx512_cpu(false);
  amd.vendor = "AuthenticAMD";
  amd.avx512f = false;  // an AVX2 Zen
  EXPECT_EQ(openblas_upgrade_candidates(amd, IsaLevel::Sse3, &all_cores), (V{"Zen", "Haswell", "Sandybridge"}));
  CpuFeatures old = amd;
  old.avx2 = false;
  EXPECT_EQ(openblas_upgrade_candidates(old, IsaLevel::Sse3, &all_cores), (V{"Sandybridge"}));
}

TEST(BlasKernels, RunningKernelsFitThisCpu) {
  const BlasKernels& k = blas_kernels();
  if (!k.openblas) GTEST_SKIP() << "BLAS is not a DYNAMIC_ARCH OpenBLAS: " << k.config;
  if (k.action == "user") GTEST_SKIP() << "OPENBLAS_CORETYPE is set by the user";
  const IsaLevel cpu = cpu_features().level();
  if (k.action == "unavailable") GTEST_SKIP() << k.note;
  EXPECT_GE(openblas_core_level(k.core), std::min(cpu, IsaLevel::Avx512)) << k.note;
  EXPECT_NE(k.config.find(k.core), std::string::npos) << "OpenBLAS's own report must name the running core";
}

TEST(BlasKernels, SelectedKernelsComputeTheSameProducts) {
  // Odd sizes reach the kernels' edge cases; the reference is the same product in double.
  torch::manual_seed(3);
  for (auto [m, k, n] : {std::tuple{257, 129, 65}, std::tuple{1, 300, 7}, std::tuple{1024, 64, 33}}) {
    auto a = torch::randn({m, k}, torch::kDouble), b = torch::randn({k, n}, torch::kDouble);
    auto ref = torch::mm(a, b);
    auto got = torch::mm(a.to(torch::kFloat), b.to(torch::kFloat)).to(torch::kDouble);
    const double scale = std::sqrt(static_cast<double>(k));
    EXPECT_LT((got - ref).abs().max().item<double>(), 1e-5 * scale * 10) << m << "x" << k << "x" << n;
    auto gotd = torch::mm(a, b.t().contiguous().t());  // the transposed-operand path in double
    EXPECT_LT((gotd - ref).abs().max().item<double>(), 1e-12 * scale * 10);
  }
}
