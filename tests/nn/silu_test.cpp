// rflow::silu against torch::silu: values and gradients over the whole float range that matters
// (including saturated tails), and the layouts and dtypes that take torch's own kernel.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/nn/silu.h"

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
