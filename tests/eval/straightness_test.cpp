#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/eval/straightness.h"
#include "rflow/solve/solver.h"

using namespace rflow;

TEST(Straightness, ZeroForConstantVelocityAndPositiveForCurvedPaths) {
  auto x0 = torch::randn({64, 2}, torch::kFloat64);
  auto c = torch::tensor({{1.5, -2.0}}, torch::kFloat64);
  SolveOptions o;
  o.steps = 50;
  o.record_trajectory = true;
  auto straight = solve([&](const at::Tensor& x, const at::Tensor&) { return c.expand_as(x); }, x0, o);
  auto s = eval::straightness(straight.trajectory, straight.times);
  EXPECT_NEAR(s.straightness, 0.0, 1e-20);
  EXPECT_NEAR(s.transport_cost, 1.5 * 1.5 + 4.0, 1e-9);

  // Rotation x' = A x at angular speed ω: paths are arcs. With speed |ω| r constant and the chord of
  // an arc of angle ω, Ŝ = E r² (ω² − 2(1 − cos ω)) as the step count grows.
  const double w = 1.0;
  auto A = torch::tensor({{0.0, -w}, {w, 0.0}}, torch::kFloat64);
  o.steps = 2000;
  o.method = "rk4";
  auto rot = solve([&](const at::Tensor& x, const at::Tensor&) { return torch::matmul(x, A.t()); }, x0, o);
  auto r = eval::straightness(rot.trajectory, rot.times);
  double r2 = x0.pow(2).sum(1).mean().item<double>();
  EXPECT_NEAR(r.straightness, r2 * (w * w - 2 * (1 - std::cos(w))), 1e-4);
  EXPECT_NEAR(r.transport_cost, r2 * 2 * (1 - std::cos(w)), 1e-6);
}
