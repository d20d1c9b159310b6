// Affine schedulers, AffinePath and the prediction conversions: endpoint values, analytic
// derivatives against finite differences, the path target as the time derivative of X_t, the
// linear path's bit-exact legacy formula, and conversion round trips.
#include "rflow/flow/scheduler.h"

#include <cctype>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/flow/conversions.h"
#include "rflow/flow/path.h"

using namespace rflow;

namespace {

const std::vector<std::string>& all_specs() {
  static const std::vector<std::string> specs = {"linear", "cosine", "vp", "polynomial:2", "polynomial:3",
                                                 "polynomial:0.5"};
  return specs;
}

double at0(const at::Tensor& a) { return a[0].item<double>(); }
double at1(const at::Tensor& a) { return a[1].item<double>(); }

}  // namespace

class EverySchedule : public ::testing::TestWithParam<std::string> {};

TEST_P(EverySchedule, NameRoundTripsThroughMakeScheduler) {
  auto s = make_scheduler(GetParam());
  EXPECT_EQ(s->name(), GetParam());
  EXPECT_EQ(make_path(GetParam())->name(), GetParam());
  ASSERT_NE(make_path(GetParam())->scheduler(), nullptr);
  EXPECT_EQ(make_path(GetParam())->scheduler()->name(), GetParam());
}

TEST_P(EverySchedule, BoundaryValues) {
  auto s = make_scheduler(GetParam());
  for (auto dtype : {torch::kFloat64, torch::kFloat32}) {
    const double ulp = dtype == torch::kFloat64 ? std::numeric_limits<double>::epsilon()
                                                : std::numeric_limits<float>::epsilon();
    SchedulerValues v = s->at(torch::tensor({0.0, 1.0}, dtype));
    EXPECT_EQ(v.alpha.scalar_type(), dtype);
    if (GetParam() == "vp") {
      // DDPM's schedule never reaches pure noise: α_0 = e^{−5.025}; data end is exact.
      EXPECT_NEAR(at0(v.alpha), std::exp(-5.025), 1e-6);
      EXPECT_NEAR(at0(v.sigma), 1.0, 5e-5);
      EXPECT_EQ(at1(v.alpha), 1.0);
      EXPECT_EQ(at1(v.sigma), 0.0);
      EXPECT_TRUE(std::isinf(at1(v.d_sigma)) && at1(v.d_sigma) < 0) << "dσ/dt(1) = −∞ as documented";
    } else {
      // The zeros are exact by construction; a one may be a library sin/pow 1 ulp away.
      EXPECT_EQ(at0(v.alpha), 0.0);
      EXPECT_EQ(at1(v.sigma), 0.0);
      EXPECT_NEAR(at0(v.sigma), 1.0, ulp);
      EXPECT_NEAR(at1(v.alpha), 1.0, ulp);
    }
  }
}

TEST_P(EverySchedule, DerivativesMatchCentralDifferences) {
  auto s = make_scheduler(GetParam());
  // Interior points only: vp's dσ and polynomial:0.5's dα are infinite at an endpoint.
  auto t = torch::linspace(0.01, 0.99, 99, torch::kFloat64);
  const double h = 1e-6;
  SchedulerValues v = s->at(t), up = s->at(t + h), dn = s->at(t - h);
  auto check = [&](const at::Tensor& exact, const at::Tensor& fu, const at::Tensor& fd, const char* what) {
    auto fdiff = (fu - fd) / (2 * h);
    auto tol = 1e-6 * exact.abs().clamp_min(1.0);
    auto err = (fdiff - exact).abs();
    EXPECT_TRUE((err <= tol).all().item<bool>())
        << GetParam() << " " << what << ": worst error " << err.max().item<double>();
  };
  check(v.d_alpha, up.alpha, dn.alpha, "d_alpha");
  check(v.d_sigma, up.sigma, dn.sigma, "d_sigma");
}

TEST_P(EverySchedule, AffinePathTargetIsTheTimeDerivative) {
  torch::manual_seed(3);
  AffinePath path(make_scheduler(GetParam()));
  auto x0 = torch::randn({16, 2, 3}, torch::kFloat64), x1 = torch::randn({16, 2, 3}, torch::kFloat64);
  auto t = torch::rand({16}, torch::kFloat64) * 0.9 + 0.05;
  const double h = 1e-6;
  PathSample s = path.sample(x0, x1, t);
  auto fd = (path.sample(x0, x1, t + h).xt - path.sample(x0, x1, t - h).xt) / (2 * h);
  EXPECT_LT((fd - s.target).abs().max().item<double>(), 1e-6 * (1 + s.target.abs().max().item<double>()));
  // Also the defining formula X_t = α X1 + σ X0.
  SchedulerValues v = path.scheduler()->at(t);
  auto expect = v.alpha.view({16, 1, 1}) * x1 + v.sigma.view({16, 1, 1}) * x0;
  EXPECT_TRUE(torch::allclose(s.xt, expect, 1e-14, 1e-14));
}

TEST_P(EverySchedule, ConversionsRoundTrip) {
  torch::manual_seed(5);
  auto s = make_scheduler(GetParam());
  auto x = torch::randn({64, 4}, torch::kFloat64), v = torch::randn({64, 4}, torch::kFloat64);
  auto t = torch::rand({64}, torch::kFloat64) * 0.9 + 0.05;
  auto v_from_x1 = x1_to_velocity(*s, velocity_to_x1(*s, v, x, t), x, t);
  auto v_from_eps = epsilon_to_velocity(*s, velocity_to_epsilon(*s, v, x, t), x, t);
  EXPECT_LT((v_from_x1 - v).abs().max().item<double>(), 1e-5);
  EXPECT_LT((v_from_eps - v).abs().max().item<double>(), 1e-5);
}

TEST_P(EverySchedule, ConversionsRecoverTheEndpointsOfAPathSample) {
  torch::manual_seed(9);
  AffinePath path(make_scheduler(GetParam()));
  const Scheduler& s = *path.scheduler();
  auto x0 = torch::randn({32, 3}, torch::kFloat64), x1 = torch::randn({32, 3}, torch::kFloat64);
  auto t = torch::rand({32}, torch::kFloat64) * 0.9 + 0.05;
  PathSample p = path.sample(x0, x1, t);
  EXPECT_LT((velocity_to_x1(s, p.target, p.xt, t) - x1).abs().max().item<double>(), 1e-9);
  EXPECT_LT((velocity_to_epsilon(s, p.target, p.xt, t) - x0).abs().max().item<double>(), 1e-9);
  EXPECT_LT((x1_to_velocity(s, x1, p.xt, t) - p.target).abs().max().item<double>(), 1e-9);
  EXPECT_LT((epsilon_to_velocity(s, x0, p.xt, t) - p.target).abs().max().item<double>(), 1e-9);
}

TEST_P(EverySchedule, ConversionsStayFiniteAtTheEndpoints) {
  auto s = make_scheduler(GetParam());
  auto x = torch::randn({2, 3}, torch::kFloat32), v = torch::randn({2, 3}, torch::kFloat32);
  auto t = torch::tensor({0.0f, 1.0f});
  for (const auto& out : {velocity_to_x1(*s, v, x, t), velocity_to_epsilon(*s, v, x, t),
                          x1_to_velocity(*s, v, x, t), epsilon_to_velocity(*s, v, x, t)}) {
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>()) << GetParam();
    EXPECT_EQ(out.scalar_type(), torch::kFloat32);
  }
}

INSTANTIATE_TEST_SUITE_P(All, EverySchedule, ::testing::ValuesIn(all_specs()), [](const auto& info) {
  std::string n = info.param;
  for (char& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
});

TEST(LinearPath, IsBitIdenticalToTheLegacyFormula) {
  torch::manual_seed(11);
  LinearPath path;
  auto x0 = torch::randn({8, 1, 4, 4}), x1 = torch::randn({8, 1, 4, 4});
  auto t = torch::rand({8});
  PathSample s = path.sample(x0, x1, t);
  auto te = t.view({8, 1, 1, 1});
  // The formula the library used before schedulers, verbatim: checkpoints depend on it.
  EXPECT_TRUE(torch::equal(s.xt, torch::addcmul(x0, te, x1 - x0)));
  EXPECT_TRUE(torch::equal(s.target, x1 - x0));
  // x0 + t (x1 − x0) as two roundings may differ from addcmul if the kernel fuses; within an ulp.
  EXPECT_TRUE(torch::allclose(s.xt, x0 + te * (x1 - x0), 1e-6, 1e-6));
  // On dyadic inputs no operation rounds, so the plain formula must match bit for bit.
  auto d0 = torch::randint(-64, 64, {8, 3}) / 16.0, d1 = torch::randint(-64, 64, {8, 3}) / 16.0;
  auto dt = torch::randint(0, 9, {8}) / 8.0;
  PathSample e = path.sample(d0, d1, dt);
  EXPECT_TRUE(torch::equal(e.xt, d0 + dt.view({8, 1}) * (d1 - d0)));
  EXPECT_TRUE(torch::equal(e.target, d1 - d0));

  EXPECT_EQ(path.name(), "linear");
  ASSERT_NE(path.scheduler(), nullptr);
  EXPECT_EQ(path.scheduler()->name(), "linear");
  // The general affine formula agrees to rounding.
  PathSample a = AffinePath(std::make_shared<LinearScheduler>()).sample(x0, x1, t);
  EXPECT_TRUE(torch::allclose(a.xt, s.xt, 1e-6, 1e-6));
  EXPECT_TRUE(torch::equal(a.target, s.target));
}

TEST(Scheduler, UnknownOrMalformedSpecsThrow) {
  for (const std::string bad : {"cosin", "", "polynomial", "polynomial:", "polynomial:x", "polynomial:2x",
                                "polynomial:0", "polynomial:-1", "polynomial:nan", "LINEAR"}) {
    EXPECT_THROW(make_scheduler(bad), Error) << bad;
    EXPECT_THROW(make_path(bad), Error) << bad;
  }
  try {
    make_scheduler("sigmoid");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_NE(e.hint().find("polynomial:N"), std::string::npos) << e.hint();
    EXPECT_NE(e.hint().find("cosine"), std::string::npos) << e.hint();
  }
  try {
    make_path("sigmoid");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "method.path");
  }
}

TEST(Scheduler, ValuesLikeBroadcastsAndPromotes) {
  auto s = make_scheduler("cosine");
  auto like = torch::zeros({3, 2, 5}, torch::kFloat16);
  SchedulerValues v = scheduler_values_like(*s, torch::tensor({0.0, 0.5, 1.0}), like);
  EXPECT_EQ(v.alpha.sizes(), (std::vector<int64_t>{3, 1, 1}));
  EXPECT_EQ(v.sigma.scalar_type(), torch::kFloat16);
  EXPECT_THROW(scheduler_values_like(*s, torch::zeros({2}), like), Error);
}

// Interior values against closed forms written independently of the implementation (the
// derivative test above compares each scheduler only with itself).
TEST(Schedulers, InteriorValuesMatchTheirFormulas) {
  const std::vector<double> ts = {0.1, 0.25, 0.5, 0.8, 0.97};
  auto t = torch::tensor(ts, torch::kFloat64);
  auto expect_at = [&](const std::string& spec, auto alpha, auto sigma) {
    SchedulerValues v = make_scheduler(spec)->at(t);
    for (size_t i = 0; i < ts.size(); ++i) {
      EXPECT_NEAR(v.alpha[i].item<double>(), alpha(ts[i]), 1e-12) << spec << " α at " << ts[i];
      EXPECT_NEAR(v.sigma[i].item<double>(), sigma(ts[i]), 1e-12) << spec << " σ at " << ts[i];
    }
  };
  expect_at("linear", [](double s) { return s; }, [](double s) { return 1 - s; });
  expect_at("cosine", [](double s) { return std::sin(M_PI * s / 2); }, [](double s) { return std::cos(M_PI * s / 2); });
  expect_at("polynomial:3", [](double s) { return s * s * s; }, [](double s) { return 1 - s * s * s; });
  expect_at("polynomial:0.5", [](double s) { return std::sqrt(s); }, [](double s) { return 1 - std::sqrt(s); });
  // DDPM's variance-preserving schedule (β from 0.1 to 20 over reversed time u = 1 − t):
  // α = exp(−¼ u² (β_max − β_min) − ½ u β_min), σ = √(1 − α²).
  auto vp_alpha = [](double s) {
    const double u = 1 - s;
    return std::exp(-0.25 * u * u * 19.9 - 0.5 * u * 0.1);
  };
  expect_at("vp", vp_alpha, [&](double s) { return std::sqrt(1 - vp_alpha(s) * vp_alpha(s)); });
  // And the variance-preserving identity itself.
  SchedulerValues vp = make_scheduler("vp")->at(t);
  EXPECT_LT((vp.alpha * vp.alpha + vp.sigma * vp.sigma - 1).abs().max().item<double>(), 1e-12);
}
