#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/solve/solver.h"

using namespace rflow;

namespace {
// dx/dt = cos(t) · x + t on two independent components; reference from a 4096-step RK4 solve is
// replaced by the closed form of the homogeneous part: for dx/dt = λ(t) x, x = x0 exp(∫λ).
// We use dx/dt = cos(t) x, whose solution is x0 · exp(sin t1 − sin t0).
FieldFn field() {
  return [](const at::Tensor& x, const at::Tensor& t) { return x * torch::cos(t.to(torch::kFloat64)).to(x.dtype()).unsqueeze(1); };
}
double error_at(const std::string& method, int64_t steps) {
  auto x0 = torch::tensor({{1.0, -0.5}}, torch::kFloat64);
  SolveOptions o;
  o.method = method;
  o.steps = steps;
  o.t0 = 0.0;
  o.t1 = 2.0;
  auto r = solve(field(), x0, o);
  auto exact = x0 * std::exp(std::sin(2.0));
  return (r.x - exact).abs().max().item<double>();
}
}  // namespace

class SolverOrder : public ::testing::TestWithParam<std::pair<std::string, int>> {};

TEST_P(SolverOrder, ConvergesAtItsOrder) {
  auto [name, order] = GetParam();
  // Halving the step divides the error by 2^order: the observed slope on a log-log plot.
  double e1 = error_at(name, 16), e2 = error_at(name, 32), e3 = error_at(name, 64);
  double p1 = std::log2(e1 / e2), p2 = std::log2(e2 / e3);
  EXPECT_NEAR(p2, order, 0.15) << name << " errors " << e1 << " " << e2 << " " << e3;
  EXPECT_NEAR(p1, order, 0.3) << name;
  EXPECT_EQ(solvers().get(name)()->order(), order);
}

INSTANTIATE_TEST_SUITE_P(All, SolverOrder,
                         ::testing::Values(std::make_pair(std::string("euler"), 1), std::make_pair(std::string("midpoint"), 2),
                                           std::make_pair(std::string("heun"), 2), std::make_pair(std::string("rk4"), 4)));

TEST(Solver, CountsNfeRecordsTrajectoryAndRunsBackwards) {
  auto x0 = torch::randn({5, 3}, torch::kFloat64);
  SolveOptions o;
  o.method = "rk4";
  o.steps = 10;
  o.record_trajectory = true;
  auto fwd = solve(field(), x0, o);
  EXPECT_EQ(fwd.calls, 40);
  EXPECT_TRUE(torch::equal(fwd.nfe, torch::full({5}, 40, torch::kInt64)));
  EXPECT_EQ(fwd.trajectory.sizes(), (std::vector<int64_t>{11, 5, 3}));
  EXPECT_TRUE(torch::equal(fwd.trajectory[0], x0));
  EXPECT_TRUE(torch::allclose(fwd.trajectory[10], fwd.x));
  // Integrating back from t = 1 to t = 0 returns to the start (to RK4 accuracy).
  o.t0 = 1.0;
  o.t1 = 0.0;
  o.record_trajectory = false;
  auto back = solve(field(), fwd.x, o);
  EXPECT_LT((back.x - x0).abs().max().item<double>(), 1e-6);
}

TEST(Solver, BudgetReturnsPartialStateWithStatus) {
  auto x0 = torch::ones({4, 2}, torch::kFloat64);
  SolveOptions o;
  o.method = "heun";
  o.steps = 10;
  o.max_nfe = 7;  // 3 Heun steps fit
  auto r = solve(field(), x0, o);
  EXPECT_EQ(r.status, SolveStatus::kBudgetExhausted);
  EXPECT_EQ(r.calls, 6);
  EXPECT_NEAR(r.t_reached[0].item<double>(), 0.3, 1e-6);
  auto ref = solve(field(), x0, SolveOptions{"heun", 3, 0.0, 0.3});
  EXPECT_TRUE(torch::allclose(r.x, ref.x, 1e-12, 1e-12));
}

TEST(Solver, CustomGridAndErrors) {
  auto x0 = torch::ones({2, 1}, torch::kFloat64);
  SolveOptions o;
  o.grid = {0.0, 0.1, 0.5, 1.0};
  auto r = solve(field(), x0, o);
  EXPECT_EQ(r.calls, 3);
  EXPECT_EQ(r.times, o.grid);
  o.grid = {0.0, 0.5, 0.4};
  EXPECT_THROW(solve(field(), x0, o), Error);
  SolveOptions bad;
  bad.method = "dopri9";
  EXPECT_THROW(solve(field(), x0, bad), Error);
  bad.method = "euler";
  bad.steps = 0;
  EXPECT_THROW(solve(field(), x0, bad), Error);
}

// One step of each fixed-step method on dx/dt = t, where its tableau gives the value exactly:
// x0 + Δt Σ b_s (t0 + c_s Δt). Euler evaluates at the step's start (a method that looked at its
// end would still converge at order 1, so the order test above cannot tell them apart).
TEST(Solver, OneStepUsesTheTableauTimes) {
  FieldFn ft = [](const at::Tensor& x, const at::Tensor& t) {
    return t.to(x.scalar_type()).unsqueeze(1).expand_as(x).clone();
  };
  auto x0 = torch::tensor({{1.0, -2.0}}, torch::kFloat64);
  SolveOptions o;
  o.steps = 1;
  o.t0 = 0.25;
  o.t1 = 0.75;
  o.method = "euler";
  EXPECT_NEAR((solve(ft, x0, o).x - x0).max().item<double>(), 0.5 * 0.25, 1e-12) << "Euler: Δt · t0";
  // Second order and up integrate a linear f exactly: ∫ t dt = (0.75² − 0.25²) / 2 = 0.25.
  for (const char* m : {"midpoint", "heun", "rk4"}) {
    o.method = m;
    EXPECT_NEAR((solve(ft, x0, o).x - x0).max().item<double>(), 0.25, 1e-12) << m;
  }
  // Backwards (t0 > t1) Euler still evaluates where the step starts.
  o.method = "euler";
  o.t0 = 0.75;
  o.t1 = 0.25;
  EXPECT_NEAR((solve(ft, x0, o).x - x0).max().item<double>(), -0.5 * 0.75, 1e-12);
}

// The shifted grid (SD3/Flux): with σ = 1 − t, σ' = shift·σ / (1 + (shift − 1)·σ) at each uniform
// point; shift 1 is the uniform grid.
TEST(Solver, ShiftedGridFollowsItsFormula) {
  SolveOptions o;
  o.steps = 8;
  o.schedule = "shift";
  o.shift = 3.0;
  const auto g = time_grid(o);
  ASSERT_EQ(g.size(), 9u);
  for (size_t i = 0; i <= 8; ++i) {
    const double sigma = 1 - double(i) / 8;
    EXPECT_NEAR(g[i], 1 - 3 * sigma / (1 + 2 * sigma), 1e-12) << i;
  }
  EXPECT_LT(g[1] - g[0], g[8] - g[7]);  // small steps near the noise end
  o.shift = 1.0;
  const auto u = time_grid(o);
  for (size_t i = 0; i <= 8; ++i) EXPECT_NEAR(u[i], double(i) / 8, 1e-15);
}
