#include <cmath>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include "rflow/core/error.h"
#include "rflow/core/rng.h"
#include "rflow/data/batch_source.h"
#include "rflow/io/npy.h"
#include "tests/test_util.h"

using namespace rflow;

TEST(Distribution, GaussianWithFullCovarianceHasItsMoments) {
  seed_all(0);
  DistributionConfig c{"gaussian"};
  c.get<GaussianOptions>("gaussian").mean = {1.0, -2.0, 0.5};
  c.get<GaussianOptions>("gaussian").cov = {2.0, 0.6, 0.0, 0.6, 1.0, -0.3, 0.0, -0.3, 0.5};
  auto d = make_distribution(c, {}, "test");
  auto x = d->sample(200000).x.to(torch::kFloat64);
  auto mean = x.mean(0);
  auto xc = x - mean;
  auto cov = torch::matmul(xc.t(), xc) / (x.size(0) - 1);
  EXPECT_TRUE(torch::allclose(mean, torch::tensor(c.get<GaussianOptions>("gaussian").mean, torch::kFloat64), 0, 0.02)) << mean;
  EXPECT_TRUE(torch::allclose(cov.flatten(), torch::tensor(c.get<GaussianOptions>("gaussian").cov, torch::kFloat64), 0, 0.03)) << cov;
}

TEST(Distribution, ToysHaveTheirShapeAndAreSeedReproducible) {
  for (const char* name : {"8gaussians", "moons", "checkerboard", "spirals", "rings", "mixture3"}) {
    DistributionConfig c{name};
    seed_all(11);
    auto a = make_distribution(c, {}, "t")->sample(500).x;
    seed_all(11);
    auto b = make_distribution(c, {}, "t")->sample(500).x;
    EXPECT_EQ(a.sizes(), (std::vector<int64_t>{500, 2})) << name;
    EXPECT_TRUE(torch::equal(a, b)) << name;
    EXPECT_TRUE(torch::isfinite(a).all().item<bool>()) << name;
  }
  // 8 gaussians: every point within 4σ of a centre on the circle of radius 4.
  seed_all(0);
  auto x = make_distribution(DistributionConfig{"8gaussians"}, {}, "t")->sample(2000).x;
  auto r = x.norm(2, 1);
  EXPECT_LT((r - 4).abs().max().item<double>(), 4 * 0.25 * 1.5);
}

TEST(Distribution, BadParametersAndNpyDataAreRejected) {
  DistributionConfig c{"gaussian"};
  c.get<GaussianOptions>("gaussian").cov = {1.0, 2.0, 2.0, 1.0};  // not positive definite
  EXPECT_THROW(make_distribution(c, {}, "data.target"), Error);
  c.get<GaussianOptions>("gaussian").cov = {};
  c.get<GaussianOptions>("gaussian").mean = {0.0, 0.0};
  c.get<GaussianOptions>("gaussian").std = {1.0};
  EXPECT_THROW(make_distribution(c, {}, "data.target"), Error);
  EXPECT_THROW(make_distribution(DistributionConfig{"moon"}, {}, "data.target"), Error);

  test::TempDir dir;
  auto pts = torch::randn({10, 3});
  pts[4][1] = std::numeric_limits<float>::quiet_NaN();
  io::write_npy(dir.file("nan.npy"), pts);
  DistributionConfig n{"npy"};
  n.path = dir.file("nan.npy");
  try {
    make_distribution(n, {}, "data.target");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nan.npy"), std::string::npos) << e.what();
  }
  // A clean file works and sampling draws rows of it; a gaussian source follows its dimension.
  io::write_npy(dir.file("ok.npy"), torch::randn({10, 3}));
  n.path = dir.file("ok.npy");
  DataConfig dc;
  dc.target = n;
  auto coupling = make_coupling(dc);
  auto b = coupling->next(7, torch::kCPU);
  EXPECT_EQ(b.x0.sizes(), (std::vector<int64_t>{7, 3}));
  EXPECT_EQ(b.x1.sizes(), (std::vector<int64_t>{7, 3}));
  // Every drawn target is one of the file's rows (not noise of the right shape), and over many
  // draws every row turns up.
  const auto rows = io::read_npy(dir.file("ok.npy"));
  std::vector<bool> seen(10, false);
  for (int k = 0; k < 40; ++k) {
    auto x1 = coupling->next(7, torch::kCPU).x1;
    for (int64_t i = 0; i < x1.size(0); ++i) {
      auto d = (rows - x1[i]).abs().sum(1);
      const int64_t j = d.argmin().item<int64_t>();
      ASSERT_EQ(d[j].item<float>(), 0.0f) << "draw " << k << " row " << i << " is not a row of the file";
      seen[static_cast<size_t>(j)] = true;
    }
  }
  for (size_t j = 0; j < seen.size(); ++j) EXPECT_TRUE(seen[j]) << "row " << j << " never drawn";
}

TEST(Distribution, GaussianLogProbWithFullCovarianceIsTheClosedForm) {
  // log N(x; μ, Σ) = −½ (x − μ)ᵀ Σ⁻¹ (x − μ) − ½ log det(2π Σ), computed here in double with an
  // explicit inverse and determinant (the library goes through a Cholesky factor).
  DistributionConfig c{"gaussian"};
  c.get<GaussianOptions>("gaussian").mean = {1.0, -2.0, 0.5};
  c.get<GaussianOptions>("gaussian").cov = {2.0, 0.6, 0.0, 0.6, 1.0, -0.3, 0.0, -0.3, 0.5};
  auto d = make_distribution(c, {}, "test");
  auto mu = torch::tensor({1.0, -2.0, 0.5}, torch::kFloat64);
  auto cov = torch::tensor(c.get<GaussianOptions>("gaussian").cov, torch::kFloat64).view({3, 3});
  torch::manual_seed(4);
  auto x = torch::randn({50, 3}, torch::kFloat64) * 1.5 + mu;
  auto diff = x - mu;
  auto quad = (torch::matmul(diff, torch::inverse(cov)) * diff).sum(1);
  auto expected = -0.5 * quad - 0.5 * std::log(torch::det(2 * M_PI * cov).item<double>());
  auto got = d->log_prob(x).to(torch::kFloat64);
  EXPECT_LT((got - expected).abs().max().item<double>(), 1e-5 * (1 + expected.abs().max().item<double>()));
}

TEST(Distribution, ToyLabelsNameTheModeEachPointCameFrom) {
  DistributionConfig c{"8gaussians"};
  c.get<ToyOptions>("toy").noise = 0.05;
  auto d = make_distribution(c, {}, "t");
  EXPECT_EQ(d->num_classes(), 8);
  seed_all(2);
  const Draw first = d->sample(1000);
  const at::Tensor &x = first.x, &y = first.cond.labels;
  EXPECT_EQ(y.scalar_type(), torch::kInt64);
  // The nearest centre k·45° is the label.
  auto angle = torch::atan2(x.select(1, 1), x.select(1, 0));
  auto nearest = torch::remainder(torch::round(angle / (M_PI / 4)), 8).to(torch::kInt64);
  EXPECT_TRUE(torch::equal(nearest, y));
  // The same seed, the same draw; a generator of its own leaves the default stream alone.
  seed_all(2);
  EXPECT_TRUE(torch::equal(d->sample(1000).x, x));
  at::Generator own = at::make_generator<at::CPUGeneratorImpl>(2);
  seed_all(5);
  const at::Tensor next_default = torch::rand({4});
  seed_all(5);
  EXPECT_TRUE(torch::equal(d->sample(1000, own).x, x));
  EXPECT_TRUE(torch::equal(torch::rand({4}), next_default));
  // Moons: the upper moon (label 0) lies above the lower one on average.
  auto m = make_distribution(DistributionConfig{"moons"}, {}, "t");
  auto [mx, mc] = m->sample(2000);
  const at::Tensor& my = mc.labels;
  auto upper = mx.select(1, 1).masked_select(my.eq(0)).mean().item<double>();
  auto lower = mx.select(1, 1).masked_select(my.eq(1)).mean().item<double>();
  EXPECT_GT(upper, lower + 0.5);
  for (const char* name : {"checkerboard", "spirals", "rings", "mixture3"}) {
    auto t = make_distribution(DistributionConfig{name}, {}, "t");
    const at::Tensor ty = t->sample(3000).cond.labels;
    EXPECT_EQ(ty.min().item<int64_t>(), 0) << name;
    EXPECT_EQ(ty.max().item<int64_t>(), t->num_classes() - 1) << name;
  }
  // Unlabelled distributions say so.
  auto g = make_distribution(DistributionConfig{"gaussian"}, {2}, "t");
  EXPECT_EQ(g->num_classes(), 0);
  EXPECT_FALSE(g->sample(3).cond.labels.defined());
  DataConfig dc;
  dc.target.name = "gaussian";
  dc.target.get<GaussianOptions>("gaussian").dim = 2;
  dc.labels = true;
  EXPECT_THROW(make_coupling(dc), Error);
}

namespace {
// Says it has no classes but hands out labels: the one sampling call refuses the draw.
class LyingDist : public Distribution {
 public:
  explicit LyingDist(bool labels, int64_t rows_short = 0) : labels_(labels), short_(rows_short) {}
  std::vector<int64_t> sample_shape() const override { return {2}; }
  std::string describe() const override { return "lying"; }

 protected:
  Draw draw(int64_t n, const at::Generator& rng) override {
    Draw d{torch::randn({n - short_, 2}, rng), {}};
    if (labels_) d.cond.labels = torch::zeros({n}, torch::kInt64);
    return d;
  }

 private:
  bool labels_;
  int64_t short_;
};
}  // namespace

TEST(Distribution, TheOneSamplingCallHoldsEveryDrawToTheContract) {
  LyingDist honest(false);
  EXPECT_EQ(honest.sample(5).x.sizes(), (std::vector<int64_t>{5, 2}));
  LyingDist labels(true), rows(false, 1);
  EXPECT_THROW(labels.sample(5), Error);  // labels without classes
  EXPECT_THROW(rows.sample(5), Error);    // a row short
  EXPECT_THROW(honest.sample(0), Error);  // nothing to draw
  // Policy data carries its observations; labelled data its labels, in the same call.
  auto fork = make_distribution(DistributionConfig{"fork1d"}, {}, "t");
  const Draw f = fork->sample(64);
  ASSERT_TRUE(f.cond.extra.count("obs"));
  // fork1d: action 0 where obs ≤ 0, ±obs where obs > 0.
  const at::Tensor obs = f.cond.extra.at("obs");
  EXPECT_TRUE(torch::equal(f.x.abs(), torch::where(obs > 0, obs, torch::zeros_like(obs))));
}
