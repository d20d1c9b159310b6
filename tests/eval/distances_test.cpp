// Checks the sample-set distances against closed forms (1-D W2, shifts, sliced W2 of a shift)
// and against direct O(N²) formulas, on both the low- and high-dimensional code paths.
#include "rflow/eval/distances.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "rflow/core/error.h"
#include "rflow/eval/label_accuracy.h"

namespace rflow::eval {
namespace {

at::Tensor randn(int64_t n, int64_t d, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::randn({n, d}, gen, at::TensorOptions().dtype(at::kDouble));
}

double pair_dist(const at::Tensor& x, int64_t i, const at::Tensor& y, int64_t j) {
  return (x[i] - y[j]).pow(2).sum().sqrt().item<double>();
}

// Direct V-statistic formulas, deliberately naive, as the reference.
double energy_reference(const at::Tensor& a, const at::Tensor& b) {
  auto mean_dist = [](const at::Tensor& x, const at::Tensor& y) {
    double s = 0.0;
    for (int64_t i = 0; i < x.size(0); ++i)
      for (int64_t j = 0; j < y.size(0); ++j) s += pair_dist(x, i, y, j);
    return s / static_cast<double>(x.size(0) * y.size(0));
  };
  return 2.0 * mean_dist(a, b) - mean_dist(a, a) - mean_dist(b, b);
}

double mmd_reference(const at::Tensor& a, const at::Tensor& b, const std::vector<double>& hs) {
  auto mean_k = [&](const at::Tensor& x, const at::Tensor& y) {
    double s = 0.0;
    for (int64_t i = 0; i < x.size(0); ++i)
      for (int64_t j = 0; j < y.size(0); ++j) {
        const double d = pair_dist(x, i, y, j);
        for (double h : hs) s += std::exp(-d * d / (2.0 * h * h));
      }
    return s / static_cast<double>(x.size(0) * y.size(0));
  };
  return mean_k(a, a) + mean_k(b, b) - 2.0 * mean_k(a, b);
}

TEST(W2Exact, OneDimensionalEqualsSortedMatching) {
  const at::Tensor a = randn(200, 1, 1);
  const at::Tensor b = randn(200, 1, 2) * 2.0 + 0.3;
  const at::Tensor sa = std::get<0>(a.flatten().sort());
  const at::Tensor sb = std::get<0>(b.flatten().sort());
  const double expected = std::sqrt((sa - sb).pow(2).mean().item<double>());
  EXPECT_NEAR(w2_exact(a, b), expected, 1e-12);
}

TEST(W2Exact, ShiftGivesNormOfShiftAndSelfIsZero) {
  for (int64_t d : {2, 5, 40}) {  // 40 exercises the matrix-product cost path
    const at::Tensor a = randn(300, d, 3);
    const at::Tensor c = at::linspace(-1.0, 2.0, d, at::kDouble);
    const double norm_c = c.norm().item<double>();
    EXPECT_NEAR(w2_exact(a, a + c), norm_c, 1e-9 * norm_c) << "d=" << d;
    EXPECT_EQ(w2_exact(a, a), 0.0) << "d=" << d;
    // A permuted copy is the same empirical measure.
    EXPECT_EQ(w2_exact(a, a.index_select(0, at::arange(299, -1, -1, at::kLong))), 0.0);
  }
}

TEST(W2Exact, MatchesBruteForceOnTinySet) {
  const at::Tensor a = randn(6, 2, 4);
  const at::Tensor b = randn(6, 2, 5);
  std::vector<int64_t> perm(6);
  std::iota(perm.begin(), perm.end(), 0);
  double best = std::numeric_limits<double>::infinity();
  do {
    double s = 0.0;
    for (int64_t i = 0; i < 6; ++i) s += std::pow(pair_dist(a, i, b, perm[i]), 2);
    best = std::min(best, s / 6.0);
  } while (std::next_permutation(perm.begin(), perm.end()));
  EXPECT_NEAR(w2_exact(a, b), std::sqrt(best), 1e-12);
}

TEST(W2Exact, AcceptsFloat32) {
  const at::Tensor a = randn(50, 2, 6).to(at::kFloat);
  EXPECT_EQ(w2_exact(a, a), 0.0);
}

TEST(SlicedW2, ShiftMatchesClosedForm) {
  // Projected onto θ, b = a + c is a shifted by c·θ, so each 1-D W2² is (c·θ)², whose mean over
  // uniform unit θ is ‖c‖²/D.
  const int64_t d = 4;
  const at::Tensor a = randn(500, d, 7);
  const at::Tensor c = at::tensor({1.0, -2.0, 0.5, 1.5}, at::kDouble);
  const double expected = c.norm().item<double>() / std::sqrt(static_cast<double>(d));
  const double got = sliced_w2(a, a + c, 2000, 42);
  EXPECT_NEAR(got, expected, 0.05 * expected);
  EXPECT_EQ(sliced_w2(a, a, 64, 1), 0.0);
}

TEST(SlicedW2, DeterministicAndExactIn1D) {
  const at::Tensor a = randn(300, 3, 8);
  const at::Tensor b = randn(300, 3, 9) + 0.5;
  EXPECT_EQ(sliced_w2(a, b, 50, 123), sliced_w2(a, b, 50, 123));
  EXPECT_NE(sliced_w2(a, b, 50, 123), sliced_w2(a, b, 50, 124));
  // In 1-D every direction is ±1, so sliced W2 is the exact W2.
  const at::Tensor x = randn(100, 1, 10);
  const at::Tensor y = randn(100, 1, 11) * 3.0;
  EXPECT_NEAR(sliced_w2(x, y, 7, 5), w2_exact(x, y), 1e-12);
}

TEST(EnergyDistance, MatchesDirectFormula) {
  for (int64_t d : {3, 40}) {  // direct and matrix-product paths
    const at::Tensor a = randn(5, d, 20);
    const at::Tensor b = randn(7, d, 21) + 0.4;
    EXPECT_NEAR(energy_distance(a, b), energy_reference(a, b), 1e-10) << "d=" << d;
  }
}

TEST(EnergyDistance, ZeroForIdenticalAndGrowsWithShift) {
  const at::Tensor a = randn(400, 2, 30);
  EXPECT_NEAR(energy_distance(a, a), 0.0, 1e-12);
  const at::Tensor b = randn(400, 2, 31);
  double prev = 0.0;
  for (double s : {0.5, 1.0, 2.0, 4.0}) {
    const double e = energy_distance(a, b + s);
    EXPECT_GT(e, prev) << "shift " << s;
    prev = e;
  }
}

TEST(MmdRbf, MatchesDirectFormula) {
  for (int64_t d : {2, 40}) {
    const at::Tensor a = randn(6, d, 40);
    const at::Tensor b = randn(4, d, 41) + 0.3;
    const std::vector<double> hs = {0.7, 1.4, 2.8};
    EXPECT_NEAR(mmd_rbf(a, b, hs), mmd_reference(a, b, hs), 1e-12) << "d=" << d;
    // Bandwidths that are not integer multiples take the plain exp route.
    const std::vector<double> odd = {0.9, 1.7};
    EXPECT_NEAR(mmd_rbf(a, b, odd), mmd_reference(a, b, odd), 1e-12) << "d=" << d;
    const std::vector<double> median = median_heuristic_bandwidths(a, b);
    ASSERT_EQ(median.size(), 3u);
    EXPECT_NEAR(mmd_rbf(a, b), mmd_reference(a, b, median), 1e-12) << "d=" << d;
  }
}

TEST(MmdRbf, ZeroForIdenticalAndGrowsWithShift) {
  const at::Tensor a = randn(400, 2, 50);
  EXPECT_NEAR(mmd_rbf(a, a), 0.0, 1e-12);
  const at::Tensor b = randn(400, 2, 51);
  double prev_fixed = 0.0, prev_median = 0.0;
  for (double s : {0.5, 1.0, 2.0, 4.0}) {
    const double fixed = mmd_rbf(a, b + s, {1.0});
    const double median = mmd_rbf(a, b + s);
    EXPECT_GT(fixed, prev_fixed) << "shift " << s;
    EXPECT_GT(median, prev_median) << "shift " << s;
    prev_fixed = fixed;
    prev_median = median;
  }
}

TEST(MedianHeuristic, ScalesWithData) {
  const at::Tensor a = randn(3000, 2, 60);  // pooled 6000 > 1000: subsampled
  const at::Tensor b = randn(3000, 2, 61);
  const std::vector<double> h1 = median_heuristic_bandwidths(a, b);
  const std::vector<double> h3 = median_heuristic_bandwidths(a * 3.0, b * 3.0);
  ASSERT_EQ(h1.size(), 3u);
  // The median distance of two standard 2-D normals is about sqrt(2 · 2 ln 2) ≈ 1.67.
  EXPECT_NEAR(h1[1], 1.67, 0.1);
  EXPECT_NEAR(h3[1], 3.0 * h1[1], 1e-9);
  EXPECT_DOUBLE_EQ(h1[0], 0.5 * h1[1]);
  EXPECT_DOUBLE_EQ(h1[2], 2.0 * h1[1]);
}

TEST(Distances, RejectBadInput) {
  const at::Tensor a = randn(10, 2, 70);
  at::Tensor nan = a.clone();
  nan[3][1] = std::numeric_limits<double>::quiet_NaN();
  const at::Tensor other_dim = randn(10, 3, 71);
  const at::Tensor fewer = randn(9, 2, 72);

  EXPECT_THROW(w2_exact(a, nan), rflow::Error);
  EXPECT_THROW(w2_exact(a, other_dim), rflow::Error);
  EXPECT_THROW(w2_exact(a, fewer), rflow::Error);
  EXPECT_THROW(w2_exact(a.flatten(), a.flatten()), rflow::Error);
  EXPECT_THROW(w2_exact(a.slice(0, 0, 0), a.slice(0, 0, 0)), rflow::Error);
  EXPECT_THROW(w2_exact(at::Tensor(), a), rflow::Error);
  const at::Tensor big = at::zeros({kW2ExactMaxPoints + 1, 1}, at::kDouble);
  EXPECT_THROW(w2_exact(big, big), rflow::Error);

  EXPECT_THROW(sliced_w2(a, fewer, 10, 0), rflow::Error);
  EXPECT_THROW(sliced_w2(a, nan, 10, 0), rflow::Error);
  EXPECT_THROW(sliced_w2(a, a, 0, 0), rflow::Error);

  EXPECT_THROW(energy_distance(nan, a), rflow::Error);
  EXPECT_THROW(energy_distance(a, other_dim), rflow::Error);
  EXPECT_NO_THROW(energy_distance(a, fewer));  // unequal sizes are fine here

  EXPECT_THROW(mmd_rbf(a, other_dim), rflow::Error);
  EXPECT_THROW(mmd_rbf(a, nan), rflow::Error);
  EXPECT_THROW(mmd_rbf(a, a, {1.0, 0.0}), rflow::Error);
  EXPECT_THROW(mmd_rbf(a, a, {std::numeric_limits<double>::infinity()}), rflow::Error);

  try {
    w2_exact(a, fewer);
    FAIL() << "expected rflow::Error";
  } catch (const rflow::Error& e) {
    EXPECT_NE(e.hint().find("equal sizes"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace rflow::eval

TEST(LabelAccuracy, NearestReferenceLabelIsCountedAgainstTheAskedLabel) {
  auto ref = torch::tensor({{0.0f, 0.0f}, {10.0f, 0.0f}, {0.0f, 10.0f}});
  auto ref_labels = torch::tensor({0, 1, 2}, torch::kInt64);
  auto samples = torch::tensor({{0.5f, 0.1f}, {9.0f, 1.0f}, {1.0f, 8.0f}, {9.5f, 0.0f}});
  EXPECT_DOUBLE_EQ(rflow::eval::nearest_label_accuracy(samples, torch::tensor({0, 1, 2, 1}, torch::kInt64), ref, ref_labels), 1.0);
  EXPECT_DOUBLE_EQ(rflow::eval::nearest_label_accuracy(samples, torch::tensor({0, 1, 2, 2}, torch::kInt64), ref, ref_labels), 0.75);
  EXPECT_THROW(rflow::eval::nearest_label_accuracy(samples, ref_labels, ref, ref_labels), rflow::Error);
}
