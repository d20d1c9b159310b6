// Checks the exact assignment solver against brute force on tiny matrices (both solver routes)
// and for validity and optimality against simple baselines on larger ones.
#include "rflow/core/algorithms/assignment.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "rflow/core/error.h"

namespace rflow {
namespace {

using detail::AssignmentRoute;

double brute_force_min(const std::vector<double>& c, int64_t n) {
  std::vector<int64_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  double best = std::numeric_limits<double>::infinity();
  do {
    best = std::min(best, assignment_cost(c.data(), n, perm));
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

bool is_permutation_of_range(std::vector<int64_t> p) {
  std::sort(p.begin(), p.end());
  for (std::size_t i = 0; i < p.size(); ++i)
    if (p[i] != static_cast<int64_t>(i)) return false;
  return true;
}

// Families chosen to stress different solver paths: continuous, heavy ties, negative, offset
// (large common value, tiny differences) and geometric (squared distances).
std::vector<double> random_matrix(int64_t n, int family, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::normal_distribution<double> g(0.0, 1.0);
  std::vector<double> c(static_cast<std::size_t>(n * n));
  switch (family) {
    case 0: for (double& v : c) v = u(rng); break;
    case 1: for (double& v : c) v = static_cast<double>(rng() % 3); break;
    case 2: for (double& v : c) v = -10.0 + 20.0 * u(rng); break;
    case 3: for (double& v : c) v = 1e6 + 1e-3 * u(rng); break;
    default: {
      std::vector<double> a(2 * n), b(2 * n);
      for (double& v : a) v = g(rng);
      for (double& v : b) v = g(rng) + 0.5;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
          const double dx = a[2 * i] - b[2 * j], dy = a[2 * i + 1] - b[2 * j + 1];
          c[i * n + j] = dx * dx + dy * dy;
        }
    }
  }
  return c;
}

TEST(Assignment, MatchesBruteForceOnSmallMatrices) {
  std::mt19937_64 rng(12345);
  for (int64_t n = 1; n <= 7; ++n) {
    for (int trial = 0; trial < 40; ++trial) {
      const int family = trial % 5;
      const std::vector<double> c = random_matrix(n, family, rng);
      const double best = brute_force_min(c, n);
      for (AssignmentRoute route : {AssignmentRoute::kAuto, AssignmentRoute::kJonkerVolgenantOnly,
                                    AssignmentRoute::kAuction}) {
        const std::vector<int64_t> p = detail::linear_assignment(c.data(), n, route);
        ASSERT_EQ(static_cast<int64_t>(p.size()), n);
        ASSERT_TRUE(is_permutation_of_range(p)) << "n=" << n << " family=" << family;
        EXPECT_NEAR(assignment_cost(c.data(), n, p), best, 1e-9 * std::max(1.0, std::fabs(best)))
            << "n=" << n << " family=" << family << " route=" << static_cast<int>(route);
      }
    }
  }
}

TEST(Assignment, LargeIsValidAndBeatsIdentityAndGreedy) {
  std::mt19937_64 rng(7);
  const int64_t n = 500;
  for (int family : {0, 1, 4}) {
    const std::vector<double> c = random_matrix(n, family, rng);
    const std::vector<int64_t> p = linear_assignment(c.data(), n);
    ASSERT_TRUE(is_permutation_of_range(p));
    const double cost = assignment_cost(c.data(), n, p);

    std::vector<int64_t> identity(n);
    std::iota(identity.begin(), identity.end(), 0);
    EXPECT_LE(cost, assignment_cost(c.data(), n, identity) + 1e-9);

    std::vector<int64_t> greedy(n);
    std::vector<char> used(n, 0);
    for (int64_t i = 0; i < n; ++i) {
      int64_t best = -1;
      for (int64_t j = 0; j < n; ++j)
        if (!used[j] && (best < 0 || c[i * n + j] < c[i * n + best])) best = j;
      used[best] = 1;
      greedy[i] = best;
    }
    EXPECT_LE(cost, assignment_cost(c.data(), n, greedy) + 1e-9);
  }
}

TEST(Assignment, RoutesAgreeOnGeometricCosts) {
  // Geometric costs are where the automatic route switches to the auction warm start.
  std::mt19937_64 rng(99);
  const int64_t n = 400;
  const std::vector<double> c = random_matrix(n, 4, rng);
  const double jv = assignment_cost(
      c.data(), n, detail::linear_assignment(c.data(), n, AssignmentRoute::kJonkerVolgenantOnly));
  const double au =
      assignment_cost(c.data(), n, detail::linear_assignment(c.data(), n, AssignmentRoute::kAuction));
  const double aut = assignment_cost(c.data(), n, linear_assignment(c.data(), n));
  EXPECT_NEAR(au, jv, 1e-9 * jv);
  EXPECT_NEAR(aut, jv, 1e-9 * jv);
}

TEST(Assignment, EdgeCases) {
  EXPECT_TRUE(linear_assignment(nullptr, 0).empty());
  const double one = 3.5;
  EXPECT_EQ(linear_assignment(&one, 1), std::vector<int64_t>{0});
  const std::vector<double> constant(16, 2.0);
  EXPECT_TRUE(is_permutation_of_range(linear_assignment(constant.data(), 4)));
  // The optimum is the anti-diagonal, not the identity.
  const std::vector<double> c = {1, 0, 0, 1};
  EXPECT_EQ(linear_assignment(c.data(), 2), (std::vector<int64_t>{1, 0}));
}

TEST(Assignment, RejectsBadInput) {
  std::vector<double> c = {0, 1, 2, 3};
  c[2] = std::nan("");
  EXPECT_THROW(linear_assignment(c.data(), 2), rflow::Error);
  c[2] = std::numeric_limits<double>::infinity();
  EXPECT_THROW(linear_assignment(c.data(), 2), rflow::Error);
  EXPECT_THROW(linear_assignment(c.data(), -1), rflow::Error);
  EXPECT_THROW(linear_assignment(nullptr, 3), rflow::Error);
}

}  // namespace
}  // namespace rflow
