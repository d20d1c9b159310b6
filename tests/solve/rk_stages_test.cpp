// The one Runge–Kutta stage loop: a tableau reduced to its non-zero coefficients, and every caller
// of the loop — in-place sampling, training through steps, PeRFlow's per-sample windows — giving
// the same numbers for the same tableau (each caller only brings its own arithmetic).
#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/methods/perflow.h"
#include "rflow/solve/butcher.h"
#include "rflow/solve/rk_stages.h"
#include "rflow/solve/solver.h"

using namespace rflow;

namespace {
// dx/dt = cos(t)·x + t²: time enters every stage, so a wrong c or a stage at the wrong time shows.
at::Tensor cos_field(const at::Tensor& x, const at::Tensor& t) {
  const at::Tensor tt = t.to(x.dtype()).unsqueeze(1);
  return x * torch::cos(tt) + tt * tt;
}

// The loop on plain doubles: the smallest Ops there is. Solvers hand the field float32 times
// (t is [B] float32 by contract); PeRFlow's windows keep their float64 interval ends.
struct ScalarOps {
  double t = 0, h = 0;
  bool float_times = true;
  double time(int s) const { return float_times ? double(static_cast<float>(t + c[s] * h)) : t + c[s] * h; }
  double combine(double x, const std::vector<double>& k, const RkRow& row) const {
    double xs = x;
    for (const RkTerm& r : row) xs += h * r.coef * k[r.stage];
    return xs;
  }
  double eval(double x, int s) const { return std::cos(time(s)) * x + time(s) * time(s); }
  double advance(double x, const std::vector<double>& k, const RkRow& row) const { return combine(x, k, row); }
  std::vector<double> c;
};
}  // namespace

TEST(RkStages, APlanKeepsOnlyTheNonZeroCoefficients) {
  const RkPlan euler = rk_plan(euler_tableau());
  ASSERT_EQ(euler.stages(), 1);
  EXPECT_TRUE(euler.a[0].empty());
  ASSERT_EQ(euler.b.size(), 1u);
  EXPECT_EQ(euler.b[0].stage, 0);
  const RkPlan mid = rk_plan(midpoint_tableau());
  ASSERT_EQ(mid.b.size(), 1u);  // b = (0, 1): only the second stage moves x
  EXPECT_EQ(mid.b[0].stage, 1);
  const RkPlan rk4 = rk_plan(rk4_tableau());
  EXPECT_EQ(rk4.a[2].size(), 1u);  // (0, ½): the first slope is not read
  EXPECT_EQ(rk4.a[2][0].stage, 1);
  const RkPlan dp = rk_plan(dopri5_tableau());
  EXPECT_EQ(dp.stages(), 7);
  EXPECT_EQ(dp.b.size(), 5u);  // b₂ = b₇ = 0
  EXPECT_FALSE(dp.e.empty());
}

TEST(RkStages, EveryCallerOfTheLoopComputesTheSameSolve) {
  for (const ButcherTableau* tab : {&euler_tableau(), &midpoint_tableau(), &heun_tableau(), &rk4_tableau()}) {
    const int64_t steps = 7;
    const double t0 = 0.1, t1 = 1.3;
    // The scalar loop: the reference.
    const RkPlan plan = rk_plan(*tab);
    auto reference = [&](bool float_times) {
      ScalarOps ops{0, (t1 - t0) / steps, float_times, tab->c};
      std::vector<double> k;
      double x = 0.5;
      for (int64_t i = 0; i < steps; ++i) {
        if (float_times) {  // the solver's grid (time_grid): t0 + (t1 − t0)·i/steps, ending at t1 exactly
          auto g = [&](int64_t j) { return j == steps ? t1 : t0 + (t1 - t0) * (double(j) / double(steps)); };
          ops.t = g(i), ops.h = g(i + 1) - g(i);
        } else {  // PeRFlow's windows: a + h·j with one h per sample
          ops.t = t0 + ops.h * double(i);
        }
        x = rk_step(plan, ops, x, k);
      }
      return x;
    };
    const double want = reference(true);
    const at::Tensor x0 = torch::full({3, 1}, 0.5, torch::kFloat64);
    SolveOptions o;
    o.method = tab->name;
    o.steps = steps;
    o.t0 = t0, o.t1 = t1;
    const at::Tensor in_place = solve(cos_field, x0, o).x;
    o.enable_grad = true;
    const at::Tensor with_grad = solve(cos_field, x0, o).x;
    EXPECT_NEAR(in_place[0].item<double>(), want, 1e-13) << tab->name;
    EXPECT_NEAR(with_grad[0].item<double>(), want, 1e-13) << tab->name;
    // PeRFlow's windows: each sample over its own interval; the first over [t0, t1].
    const at::Tensor a = torch::tensor({t0, 0.0, 0.5}, torch::kFloat64), b = torch::tensor({t1, 1.0, 0.6}, torch::kFloat64);
    const at::Tensor win = solve_intervals(cos_field, x0, a, b, steps, tab->name);
    EXPECT_NEAR(win[0].item<double>(), reference(false), 1e-13) << tab->name;
    // ... and the others as the solver gives them over theirs (up to its float32 times).
    for (int i = 1; i < 3; ++i) {
      o.t0 = a[i].item<double>(), o.t1 = b[i].item<double>();
      EXPECT_NEAR(win[i].item<double>(), solve(cos_field, x0.slice(0, i, i + 1), o).x.item<double>(), 1e-6) << tab->name;
    }
    EXPECT_GT(std::abs(reference(false) - want), 0.0);  // the two time precisions are told apart
  }
}
