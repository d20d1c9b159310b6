#include <algorithm>
#include <limits>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/rng.h"
#include "rflow/data/batch_source.h"
#include "rflow/data/coupling.h"
#include "rflow/data/ot_coupling.h"

using namespace rflow;

namespace {

OtConfig exact() { return OtConfig{}; }

OtConfig sinkhorn(double epsilon, bool replace, int64_t iterations = 200) {
  OtConfig c;
  c.method = "sinkhorn";
  c.epsilon = epsilon;
  c.replace = replace;
  c.iterations = iterations;
  return c;
}

// Test batches of several kinds, so the coupling is not only checked where x0 and x1 look alike.
Batch random_batch(int kind, int64_t n, int64_t d) {
  auto x0 = torch::randn({n, d});
  torch::Tensor x1;
  switch (kind % 4) {
    case 0:  // same law
      x1 = torch::randn({n, d});
      break;
    case 1: {  // shifted, rotated and stretched
      auto q = std::get<0>(torch::linalg_qr(torch::randn({d, d})));
      x1 = torch::matmul(torch::randn({n, d}) * torch::linspace(0.5, 2.0, d), q) + 3.0;
      break;
    }
    case 2:  // uniform on a box
      x1 = torch::rand({n, d}) * 4 - 1;
      break;
    default: {  // clusters at ±4 on the first axis
      x1 = torch::randn({n, d}) * 0.3;
      x1.select(1, 0).add_((torch::randint(0, 2, {n}, torch::kInt64) * 8 - 4).to(torch::kFloat32));
      break;
    }
  }
  return {x0, x1, torch::arange(n, torch::kInt64)};
}

double total_cost(const Batch& b) { return pairing_cost(b) * static_cast<double>(b.x0.size(0)); }

// Minimum total cost over all pairings, by enumeration (n <= 7).
double brute_force_cost(const Batch& b) {
  auto t = ot_cost_matrix(b.x0, b.x1).contiguous();
  const int64_t n = t.size(0);
  const std::vector<double> c(t.data_ptr<double>(), t.data_ptr<double>() + n * n);
  std::vector<int64_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  double best = std::numeric_limits<double>::infinity();
  do {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += c[i * n + perm[i]];
    best = std::min(best, s);
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

// x1_out[k] is x1_in[labels_out[k]] for every k, and x0 did not move.
void expect_labels_follow_x1(const Batch& in, const Batch& out) {
  ASSERT_TRUE(out.cond.labels.defined());
  EXPECT_TRUE(torch::equal(out.x0, in.x0));
  EXPECT_TRUE(torch::equal(out.x1, in.x1.index_select(0, out.cond.labels)));
}

bool is_permutation(const at::Tensor& labels) {
  return torch::equal(std::get<0>(labels.sort()), torch::arange(labels.size(0), torch::kInt64));
}

}  // namespace

TEST(OtCoupling, ExactPairingIsNeverWorseThanIdentityAndLabelsFollow) {
  seed_all(1);
  for (int64_t d : {2, 5}) {
    for (int trial = 0; trial < 50; ++trial) {
      auto in = random_batch(trial, 64, d);
      auto out = ot_couple(in, exact());
      EXPECT_LE(total_cost(out), total_cost(in) + 1e-9) << "d=" << d << " trial=" << trial;
      expect_labels_follow_x1(in, out);
      EXPECT_TRUE(is_permutation(out.cond.labels));
    }
  }
}

TEST(OtCoupling, ExactPairingMatchesBruteForceOnSmallBatches) {
  seed_all(2);
  for (int64_t n = 1; n <= 7; ++n) {
    for (int trial = 0; trial < 8; ++trial) {
      auto in = random_batch(trial, n, trial % 2 ? 5 : 2);
      auto out = ot_couple(in, exact());
      const double best = brute_force_cost(in);
      EXPECT_NEAR(total_cost(out), best, 1e-9 * (1 + best)) << "n=" << n << " trial=" << trial;
    }
  }
}

TEST(OtCoupling, AnySampleShapeIsFlattenedForTheCost) {
  seed_all(3);
  auto x0 = torch::randn({32, 2, 3, 3});
  auto x1 = torch::randn({32, 2, 3, 3}) + 1;
  Batch in{x0, x1, Cond{torch::arange(32, torch::kInt64)}};
  auto out = ot_couple(in, exact());
  EXPECT_EQ(out.x1.sizes(), x1.sizes());
  expect_labels_follow_x1(in, out);
  // The same pairing as on the flattened rows.
  Batch flat{x0.reshape({32, -1}), x1.reshape({32, -1}), in.cond};
  EXPECT_TRUE(torch::equal(out.cond.labels, ot_couple(flat, exact()).cond.labels));
  EXPECT_LT(pairing_cost(out), pairing_cost(in));
}

TEST(OtCoupling, OneDimensionalExactPairingIsMonotone) {
  seed_all(4);
  for (int trial = 0; trial < 10; ++trial) {
    auto x0 = torch::randn({100, 1});
    auto x1 = torch::rand({100, 1}) * 6 - 1;
    auto out = ot_couple(Batch{x0, x1, {}}, exact());
    EXPECT_FALSE(out.cond.labels.defined());
    auto order = x0.squeeze(1).argsort();
    auto paired = out.x1.squeeze(1).index_select(0, order);
    EXPECT_TRUE(torch::equal(paired, std::get<0>(x1.squeeze(1).sort()))) << "trial " << trial;
  }
}

TEST(OtCoupling, SinkhornWithoutReplacementIsAPermutation) {
  seed_all(5);
  for (int trial = 0; trial < 10; ++trial) {
    auto in = random_batch(trial, 64, 2);
    auto out = ot_couple(in, sinkhorn(0.05, false));
    expect_labels_follow_x1(in, out);
    EXPECT_TRUE(is_permutation(out.cond.labels));
    // Same multiset of x1 rows, whatever the labels say.
    auto key = [](const at::Tensor& x) { return std::get<0>((x.select(1, 0) * 1000 + x.select(1, 1)).sort()); };
    EXPECT_TRUE(torch::equal(key(out.x1), key(in.x1)));
  }
  // With replacement, labels still follow their rows.
  auto in = random_batch(1, 64, 3);
  expect_labels_follow_x1(in, ot_couple(in, sinkhorn(0.05, true)));
}

TEST(OtCoupling, SinkhornPlanHasUniformMarginals) {
  seed_all(6);
  for (int trial = 0; trial < 12; ++trial) {
    auto in = random_batch(trial, 64, trial % 2 ? 5 : 2);
    // When x0 and x1 share a law the optimal pairs are short next to the mean distance that
    // epsilon is measured in, so the effective regularisation is small and Sinkhorn converges
    // slowly (about 5e-3 off after 200 iterations).
    const int64_t iterations = trial % 4 == 0 ? 2000 : 200;
    auto plan = sinkhorn_log_plan(ot_cost_matrix(in.x0, in.x1), 0.05, iterations).exp();
    EXPECT_NEAR(plan.sum().item<double>(), 1.0, 1e-9);
    EXPECT_LT((plan.sum(1) * 64 - 1).abs().max().item<double>(), 1e-3) << "trial " << trial;
    EXPECT_LT((plan.sum(0) * 64 - 1).abs().max().item<double>(), 1e-3) << "trial " << trial;
  }
  // Coincident points (zero mean cost) give the uniform plan, not NaNs.
  auto same = torch::ones({5, 2});
  auto plan = sinkhorn_log_plan(ot_cost_matrix(same, same), 0.05, 10).exp();
  EXPECT_TRUE(torch::allclose(plan, torch::full({5, 5}, 1.0 / 25, torch::kFloat64)));
}

TEST(OtCoupling, SinkhornEpsilonInterpolatesBetweenExactAndIndependent) {
  seed_all(7);
  DataConfig dc;  // gaussian -> 8gaussians
  auto data = make_coupling(dc);
  double exact_sum = 0, identity_sum = 0, small_perm = 0, small_sampled = 0, large_sampled = 0, large_perm = 0;
  for (int trial = 0; trial < 50; ++trial) {
    auto in = data->next(64, torch::kCPU);
    identity_sum += pairing_cost(in);
    const double e = pairing_cost(ot_couple(in, exact()));
    exact_sum += e;
    const double p = pairing_cost(ot_couple(in, sinkhorn(0.01, false)));
    EXPECT_GE(p, e - 1e-9);
    small_perm += p;
    small_sampled += pairing_cost(ot_couple(in, sinkhorn(0.01, true)));
    large_sampled += pairing_cost(ot_couple(in, sinkhorn(10.0, true)));
    large_perm += pairing_cost(ot_couple(in, sinkhorn(10.0, false)));
  }
  // Perturb-and-MAP permutations follow epsilon too: near-exact for small, near-independent for large.
  EXPECT_NEAR(large_perm / identity_sum, 1.0, 0.15);
  EXPECT_LE(small_perm, 1.02 * exact_sum);
  // Pairs drawn with replacement may reuse a close x1, so only the upper bound holds.
  EXPECT_LE(small_sampled, 1.02 * exact_sum);
  EXPECT_NEAR(large_sampled / identity_sum, 1.0, 0.15);
  // The toy problem is far from trivially coupled: exact OT roughly halves the cost.
  EXPECT_LT(exact_sum, 0.7 * identity_sum);
}

TEST(OtCoupling, WrapsABatchSourceAndLowersItsPairingCost) {
  DataConfig dc;
  auto independent = make_coupling(dc);
  OtCoupling ot(make_coupling(dc), OtConfig{});
  EXPECT_EQ(ot.sample_shape(), independent->sample_shape());
  double ind = 0, paired = 0;
  for (int i = 0; i < 20; ++i) {
    seed_all(100 + i);
    auto a = independent->next(128, torch::kCPU);
    seed_all(100 + i);
    auto b = ot.next(128, torch::kCPU);
    // Same seed, same draws: OT only re-pairs them.
    EXPECT_TRUE(torch::equal(a.x0, b.x0));
    ind += pairing_cost(a);
    paired += pairing_cost(b);
  }
  EXPECT_LT(paired, 0.7 * ind);

  // The factory follows data.coupling.
  EXPECT_NE(dynamic_cast<IndependentCoupling*>(make_batch_source(dc).get()), nullptr);
  dc.coupling = "ot";
  dc.ot.method = "sinkhorn";
  auto src = make_batch_source(dc);
  auto* wrapped = dynamic_cast<OtCoupling*>(src.get());
  ASSERT_NE(wrapped, nullptr);
  EXPECT_EQ(wrapped->config().method, "sinkhorn");
  EXPECT_EQ(src->next(16, torch::kCPU).x1.sizes(), (std::vector<int64_t>{16, 2}));
}

TEST(OtCoupling, RunsOnTheBatchDevice) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  seed_all(9);
  auto in = random_batch(1, 64, 3);
  Batch gpu{in.x0.cuda(), in.x1.cuda(), in.cond.to(torch::kCUDA)};
  auto out = ot_couple(gpu, exact());
  EXPECT_TRUE(out.x1.is_cuda());
  EXPECT_TRUE(out.cond.labels.is_cuda());
  EXPECT_TRUE(torch::equal(out.cond.labels.cpu(), ot_couple(in, exact()).cond.labels));
}

TEST(OtCoupling, InvalidConfigAndBatchesAreRejected) {
  OtConfig c;
  c.method = "foo";
  EXPECT_THROW(c.validate("data.ot"), Error);
  for (double eps : {0.0, -1.0, std::numeric_limits<double>::quiet_NaN()}) {
    c = sinkhorn(eps, false);
    EXPECT_THROW(c.validate("data.ot"), Error) << eps;
  }
  c = sinkhorn(0.05, false, 0);
  EXPECT_THROW(c.validate("data.ot"), Error);

  auto x = torch::randn({8, 2});
  OtConfig bad;
  bad.method = "foo";
  EXPECT_THROW(ot_couple(Batch{x, x, {}}, bad), Error);
  EXPECT_THROW(ot_couple(Batch{x, torch::randn({7, 2}), {}}, exact()), Error);
  EXPECT_THROW(ot_couple(Batch{x, torch::randn({8, 3}), {}}, exact()), Error);
  EXPECT_THROW(ot_couple(Batch{x, x, Cond{torch::arange(7, torch::kInt64)}}, exact()), Error);
  auto nan = x.clone();
  nan[3][1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(ot_couple(Batch{x, nan, {}}, exact()), Error);

  DataConfig dc;
  dc.coupling = "otx";
  EXPECT_THROW(dc.validate(), Error);
  EXPECT_THROW(make_batch_source(dc), Error);
  dc.coupling = "ot";
  dc.ot.iterations = 0;
  EXPECT_THROW(make_batch_source(dc), Error);
  EXPECT_THROW(std::make_unique<OtCoupling>(make_coupling(DataConfig{}), bad), Error);
}
