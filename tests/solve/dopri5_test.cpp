#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/solve/solver.h"

using namespace rflow;

namespace {
// State [x, ω]: x' = ω cos(ω t), ω' = 0, so x(t) = x0 + sin(ω t) − sin(ω t0). Large ω is hard.
FieldFn oscillator() {
  return [](const at::Tensor& s, const at::Tensor& t) {
    auto w = s.select(1, 1);
    auto td = t.to(s.dtype());
    return torch::stack({w * torch::cos(w * td), torch::zeros_like(w)}, 1);
  };
}
at::Tensor mixed_batch() {
  // 32 easy (ω = 1) and 32 hard (ω = 40) samples, interleaved.
  auto w = torch::where(torch::arange(64) % 2 == 0, torch::full({64}, 1.0), torch::full({64}, 40.0));
  return torch::stack({torch::zeros({64}, torch::kFloat64), w.to(torch::kFloat64)}, 1);
}
}  // namespace

TEST(Dopri5, MatchesClosedFormOfLinearOde) {
  // x' = A x with diagonal rates: x(t) = x0 exp(a t).
  auto a = torch::tensor({-2.0, -0.5, 0.3, 1.0}, torch::kFloat64);
  auto x0 = torch::randn({8, 4}, torch::kFloat64);
  SolveOptions o;
  o.method = "dopri5";
  o.rtol = o.atol = 1e-8;
  auto r = solve([&](const at::Tensor& x, const at::Tensor&) { return x * a; }, x0, o);
  auto exact = x0 * torch::exp(a);
  EXPECT_LT((r.x - exact).abs().max().item<double>(), 1e-6);
  EXPECT_EQ(r.status, SolveStatus::kOk);
  EXPECT_TRUE(torch::allclose(r.t_reached, torch::ones({8})));
  // Looser tolerance, fewer evaluations, still accurate to about that tolerance.
  o.rtol = o.atol = 1e-4;
  auto loose = solve([&](const at::Tensor& x, const at::Tensor&) { return x * a; }, x0, o);
  EXPECT_LT(loose.nfe.max().item<int64_t>(), r.nfe.min().item<int64_t>());
  EXPECT_LT((loose.x - exact).abs().max().item<double>(), 1e-2);
  // Backwards from t = 1 to 0 recovers x0.
  o.rtol = o.atol = 1e-8;
  o.t0 = 1.0;
  o.t1 = 0.0;
  auto back = solve([&](const at::Tensor& x, const at::Tensor&) { return x * a; }, exact, o);
  EXPECT_LT((back.x - x0).abs().max().item<double>(), 1e-6);
}

TEST(Dopri5, PerSampleNfeIsLowerForEasySamples) {
  auto s0 = mixed_batch();
  SolveOptions o;
  o.method = "dopri5";
  o.rtol = o.atol = 1e-6;
  auto r = solve(oscillator(), s0, o);
  auto exact = torch::sin(s0.select(1, 1));
  EXPECT_LT((r.x.select(1, 0) - exact).abs().max().item<double>(), 1e-4);
  auto easy = r.nfe.index_select(0, torch::arange(0, 64, 2)), hard = r.nfe.index_select(0, torch::arange(1, 64, 2));
  EXPECT_LT(easy.max().item<int64_t>() * 3, hard.min().item<int64_t>()) << easy.max() << " vs " << hard.min();
  EXPECT_EQ(r.evaluations, r.nfe.sum().item<int64_t>());

  // Batch-shared control gives every sample the hard samples' cost.
  o.per_sample = false;
  auto shared = solve(oscillator(), s0, o);
  EXPECT_EQ(shared.nfe.min().item<int64_t>(), shared.nfe.max().item<int64_t>());
  EXPECT_LT(r.evaluations, 0.7 * shared.evaluations);
  EXPECT_LT((shared.x.select(1, 0) - exact).abs().max().item<double>(), 1e-4);
}

TEST(Dopri5, BudgetReturnsPartialStateAndTimes) {
  auto s0 = mixed_batch();
  SolveOptions o;
  o.method = "dopri5";
  o.rtol = o.atol = 1e-6;
  auto full = solve(oscillator(), s0, o);
  int64_t easy_cost = full.nfe[0].item<int64_t>();
  o.max_nfe = easy_cost + 6;  // enough for the easy samples, not for the hard ones
  auto r = solve(oscillator(), s0, o);
  EXPECT_EQ(r.status, SolveStatus::kBudgetExhausted);
  EXPECT_LE(r.nfe.max().item<int64_t>(), o.max_nfe);
  for (int64_t i = 0; i < 64; ++i) {
    double t = r.t_reached[i].item<double>();
    if (i % 2 == 0) {
      EXPECT_DOUBLE_EQ(t, 1.0);
    } else {
      EXPECT_LT(t, 1.0);
      EXPECT_GT(t, 0.0);
      // The partial state is the true solution at the time reached.
      EXPECT_NEAR(r.x[i][0].item<double>(), std::sin(40.0 * t), 1e-4);
    }
  }
}

// Error control: the global error follows the tolerance. On the oscillator (ω = 5, t from 0 to 1)
// this step control gives errors of 0.2–1.5 × the tolerance for tolerances 1e-4 to 1e-8 (geometric
// mean 0.55); an error norm weighted 10× too leniently gives ~6× more (geometric mean ≈ 3), one
// 10× too strict ~6× less. Evaluations grow as the tolerance tightens.
TEST(Dopri5, GlobalErrorFollowsTheTolerance) {
  auto s0 = torch::tensor({{0.0, 5.0}}, torch::kFloat64);
  const double exact = std::sin(5.0);
  int64_t prev_calls = 0;
  double log_sum = 0;
  const std::vector<double> tols = {1e-4, 1e-5, 1e-6, 1e-7, 1e-8};
  for (double tol : tols) {
    SolveOptions o;
    o.method = "dopri5";
    o.rtol = o.atol = tol;
    auto r = solve(oscillator(), s0, o);
    const double ratio = std::abs(r.x[0][0].item<double>() - exact) / tol;
    EXPECT_LT(ratio, 3.0) << "error per tolerance at " << tol;
    log_sum += std::log(std::max(ratio, 1e-12));
    EXPECT_GT(r.calls, prev_calls) << tol;
    prev_calls = r.calls;
  }
  const double geo_mean = std::exp(log_sum / static_cast<double>(tols.size()));
  EXPECT_GT(geo_mean, 0.15);
  EXPECT_LT(geo_mean, 1.5);
}

// max_step caps every accepted step; min_step floors them (taken even where the error test fails).
TEST(Dopri5, MaxAndMinStepBoundTheStepsTaken) {
  auto s0 = torch::tensor({{0.0, 5.0}}, torch::kFloat64);
  SolveOptions o;
  o.method = "dopri5";
  o.rtol = o.atol = 1e-3;
  const auto free_steps = solve(oscillator(), s0, o).accepted;
  o.max_step = 0.05;
  auto capped = solve(oscillator(), s0, o);
  EXPECT_GE(capped.accepted, 20) << "t from 0 to 1 in steps of at most 0.05";
  EXPECT_GT(capped.accepted, free_steps);
  EXPECT_NEAR(capped.x[0][0].item<double>(), std::sin(5.0), 1e-3);
  // A tolerance no step can meet, with a floor of 0.25: four steps, all forced, and the end reached.
  o.max_step = 0.0;
  o.rtol = o.atol = 1e-14;
  o.min_step = 0.25;
  auto floored = solve(oscillator(), s0, o);
  EXPECT_LE(floored.accepted, 4);
  EXPECT_NEAR(floored.t_reached[0].item<double>(), 1.0, 1e-6);
}

// With no budget set, an adaptive solve still stops: a stiff field forces steps of ~1e-7, and the
// default cap of 100 000 evaluations returns the partial state as budget_exhausted.
TEST(Dopri5, NoBudgetStillStopsAtTheDefaultCap) {
  SolveOptions o;
  o.method = "dopri5";
  ASSERT_EQ(o.max_nfe, 0);
  auto r = solve([](const at::Tensor& x, const at::Tensor&) { return -1e7 * x; }, torch::ones({1, 1}, torch::kFloat64), o);
  EXPECT_EQ(r.status, SolveStatus::kBudgetExhausted);
  EXPECT_LE(r.nfe.max().item<int64_t>(), SolveOptions::kDefaultNfeCap);
  EXPECT_GT(r.nfe.max().item<int64_t>(), SolveOptions::kDefaultNfeCap - 20);
  EXPECT_LT(r.t_reached.max().item<double>(), 1.0);
}

TEST(SolveOptions, StepLimitsThatCannotEndAreRefused) {
  SolveOptions o;
  o.method = "dopri5";
  o.min_step = 1e-300;
  EXPECT_THROW(o.validate("test"), Error);
  o.min_step = 1e-7;
  o.max_step = 1e-9;  // below the floor
  EXPECT_THROW(o.validate("test"), Error);
  o.max_step = std::numeric_limits<double>::infinity();
  EXPECT_THROW(o.validate("test"), Error);
  o.max_step = 0;
  EXPECT_NO_THROW(o.validate("test"));
}
