// rflow::silu against torch::silu: values and gradients over the whole float range that matters
// (including saturated tails), and the layouts and dtypes that take torch's own kernel.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/nn/layers/silu.h"

using namespace rflow;

TEST(Silu, MatchesTorchInValueAndGradient) {
  auto base = torch::cat({torch::linspace(-100, 100, 20001), torch::randn({100000}) * 4,
                          torch::tensor({0.0f, -0.0f, 1e-30f, -1e-30f, 87.5f, -87.5f, 200.0f, -200.0f})});
  auto x1 = base.clone().requires_grad_(true), x2 = base.clone().requires_grad_(true);
  auto y1 = rflow::silu(x1), y2 = torch::silu(x2);
  // Within a few float ulps of the magnitude (SiLU is ~|x| or ~0).
  EXPECT_LT(((y1 - y2).abs() / (y2.abs() + 1e-30)).max().item<double>(), 2e-6);
  auto up = torch::randn_like(base);
  (y1 * up).sum().backward();
  (y2 * up).sum().backward();
  EXPECT_LT((x1.grad() - x2.grad()).abs().max().item<double>(), 2e-6 * up.abs().max().item<double>());
  EXPECT_TRUE(torch::isfinite(x1.grad()).all().item<bool>());
}

TEST(Silu, NoGradAndOtherLayoutsAgree) {
  auto x = torch::randn({64, 33});
  {
    torch::NoGradGuard ng;
    EXPECT_TRUE(torch::allclose(rflow::silu(x), torch::silu(x), 1e-6, 1e-6));
  }
  auto t = x.t();  // not contiguous: torch's kernel
  EXPECT_TRUE(torch::equal(rflow::silu(t), torch::silu(t)));
  auto d = x.to(torch::kDouble);
  EXPECT_TRUE(torch::equal(rflow::silu(d), torch::silu(d)));
}

// NaN in, NaN out, and no undefined behaviour on the way (the exponent trick once shifted the
// integer of a NaN); saturated inputs give the limits.
TEST(Silu, NanPropagatesAndExtremesSaturate) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  at::Tensor x = torch::tensor({nan, 1e30f, -1e30f, 100.0f, -100.0f, 0.0f});
  at::Tensor y = rflow::silu(x);
  EXPECT_TRUE(std::isnan(y[0].item<float>()));
  EXPECT_FLOAT_EQ(y[1].item<float>(), 1e30f);
  EXPECT_NEAR(y[2].item<float>(), 0.0f, 1e-6);
  EXPECT_FLOAT_EQ(y[3].item<float>(), 100.0f);
  EXPECT_NEAR(y[4].item<float>(), 0.0f, 1e-30);
  EXPECT_EQ(y[5].item<float>(), 0.0f);
}
