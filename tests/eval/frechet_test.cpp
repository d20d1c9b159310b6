#include "rflow/eval/frechet.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"

namespace {

// Closed-form features that numpy can rebuild exactly: sin(a i + b j) + c cos(0.11 i j + 0.5 j).
at::Tensor feats(int64_t n, int64_t d, double a, double b, double c) {
  auto i = torch::arange(n, torch::kFloat64).unsqueeze(1), j = torch::arange(d, torch::kFloat64).unsqueeze(0);
  return torch::sin(a * i + b * j) + c * torch::cos(0.11 * i * j + 0.5 * j);
}

}  // namespace

// Golden values from numpy 1.24 with the other textbook route to the trace term,
// sum(sqrt(eigvals(S1 @ S2))) (np.cov, float64):
//   x = feats(50, 4, .37, 1.3, .2); y = feats(40, 4, .23, .7, .5) → 0.867772086917916
//   z = feats(300, 16, .051, .9, 1); w = feats(200, 16, .077, .4, .3) → 13.393368827466755
TEST(Frechet, MatchesNumpyGoldenValues) {
  using rflow::eval::feature_stats;
  using rflow::eval::frechet_distance;
  auto x = feature_stats(feats(50, 4, 0.37, 1.3, 0.2)), y = feature_stats(feats(40, 4, 0.23, 0.7, 0.5));
  EXPECT_NEAR(frechet_distance(x, y), 0.867772086917916, 1e-9);
  EXPECT_NEAR(frechet_distance(y, x), 0.867772086917916, 1e-9);  // symmetric
  auto z = feature_stats(feats(300, 16, 0.051, 0.9, 1.0)), w = feature_stats(feats(200, 16, 0.077, 0.4, 0.3));
  EXPECT_NEAR(frechet_distance(z, w), 13.393368827466755, 1e-8);
}

TEST(Frechet, IsZeroForIdenticalSetsAndRankDeficientCovariances) {
  // 10 samples in 32 dimensions: the covariance has rank 9, the case where sqrtm goes complex.
  torch::manual_seed(0);
  auto f = torch::randn({10, 32});
  auto s = rflow::eval::feature_stats(f);
  EXPECT_NEAR(rflow::eval::frechet_distance(s, s), 0.0, 1e-9);
}

TEST(Frechet, GaussiansWithKnownMomentsGiveTheAnalyticDistance) {
  // N(μ1, diag(a)) vs N(μ2, diag(b)): ‖μ1 − μ2‖² + Σ (√a − √b)².
  rflow::eval::FeatureStats p{torch::tensor({0.0, 1.0, 2.0}, torch::kFloat64), torch::diag(torch::tensor({1.0, 4.0, 9.0}, torch::kFloat64)), 100};
  rflow::eval::FeatureStats q{torch::tensor({1.0, 1.0, 0.0}, torch::kFloat64), torch::diag(torch::tensor({4.0, 1.0, 9.0}, torch::kFloat64)), 100};
  EXPECT_NEAR(rflow::eval::frechet_distance(p, q), (1 + 0 + 4) + (1 + 1 + 0), 1e-10);
}

TEST(Frechet, RejectsMismatchedOrTooSmallInputs) {
  EXPECT_THROW(rflow::eval::feature_stats(torch::randn({1, 4})), rflow::Error);
  auto a = rflow::eval::feature_stats(torch::randn({5, 3})), b = rflow::eval::feature_stats(torch::randn({5, 4}));
  EXPECT_THROW(rflow::eval::frechet_distance(a, b), rflow::Error);
}
