// The lexicographic (dynamic-barrier) update: λ by its formula, the lexicographic optimum reached
// on a problem whose answer is known, and no accepted step ever raising the primary loss beyond
// its tolerance (steps that would are undone, parameters restored).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/train/lexicographic.h"

using namespace rflow;

TEST(Lexicographic, TheBarrierWeightFollowsItsFormula) {
  // g1 = (1, 0), g2 = (−1, 1), α = 1: λ = (1 − (−1)) / 1 = 2, d = (1, 1) and ⟨d, g1⟩ = α‖g1‖².
  auto d = barrier_direction({torch::tensor({1.0, 0.0})}, {torch::tensor({-1.0, 1.0})}, 1.0);
  EXPECT_DOUBLE_EQ(d.lambda, 2.0);
  EXPECT_TRUE(torch::allclose(d.direction[0], torch::tensor({1.0, 1.0})));
  EXPECT_NEAR(d.cosine, -std::sqrt(0.5), 1e-12);
  // A secondary gradient already descending the primary fast enough needs no barrier.
  d = barrier_direction({torch::tensor({1.0, 0.0})}, {torch::tensor({2.0, 5.0})}, 1.0);
  EXPECT_DOUBLE_EQ(d.lambda, 0.0);
  EXPECT_TRUE(torch::allclose(d.direction[0], torch::tensor({2.0, 5.0})));
}

TEST(Lexicographic, ReachesTheLexicographicOptimum) {
  // Primary (θ₁ − 1)² fixes θ₁ only; the secondary (θ₁ + θ₂ − 3)² + (θ₁ − 4)² would pull θ₁ to
  // 2.5 alone. Lexicographically: θ₁ = 1, then θ₂ = 2.
  at::Tensor th = torch::zeros({2}, torch::requires_grad());
  torch::optim::SGD sgd({th}, 0.05);
  LexicographicOptions o;
  o.tolerance = 0.0;
  const auto primary = [&] { return (th[0] - 1).pow(2); };
  const auto secondary = [&] { return (th[0] + th[1] - 3).pow(2) + (th[0] - 4).pow(2); };
  for (int i = 0; i < 3000; ++i) lexicographic_step(primary, secondary, {th}, {}, sgd, o);
  EXPECT_NEAR(th[0].item<double>(), 1.0, 0.03);
  EXPECT_NEAR(th[1].item<double>(), 2.0, 0.05);
}

TEST(Lexicographic, NoAcceptedStepRaisesThePrimaryBeyondItsTolerance) {
  // Adam's steps (about lr per coordinate) are far too large near the primary's minimum: many
  // would overshoot it. Its moments change on every step, so an undone step is not repeated.
  torch::manual_seed(1);
  at::Tensor th = torch::randn({4}, torch::requires_grad());
  at::Tensor own = torch::randn({2}, torch::requires_grad());
  torch::optim::Adam sgd({th, own}, 0.5);
  LexicographicOptions o;
  o.tolerance = 0.01;
  const at::Tensor a = torch::tensor({1.0f, -2.0f, 0.5f, 3.0f}), scale = torch::tensor({1.0f, 4.0f, 0.5f, 2.0f});
  const auto primary = [&] { return ((th - a).pow(2) * scale).sum(); };
  const auto secondary = [&] { return (th.sum() - own.sum()).pow(2) + own.pow(2).sum() * 3; };
  int rejected = 0, accepted = 0;
  for (int i = 0; i < 200; ++i) {
    const at::Tensor before = th.detach().clone();
    const LexicographicStep s = lexicographic_step(primary, secondary, {th}, {own}, sgd, o);
    const double now = primary().item<double>();
    if (s.accepted) {
      ++accepted;
      EXPECT_LE(now, s.primary_before * (1 + o.tolerance) + 1e-9) << "step " << i;
    } else {
      ++rejected;
      EXPECT_TRUE(torch::equal(th.detach(), before)) << "an undone step must restore the parameters";
      EXPECT_GT(s.primary_after, s.primary_before * (1 + o.tolerance));
    }
  }
  EXPECT_GT(rejected, 0) << "the step size was meant to overshoot";
  EXPECT_GT(accepted, 0);
}
