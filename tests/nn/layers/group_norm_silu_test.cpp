// rflow::group_norm_silu against torch's silu(group_norm(x)): values and the gradients of x, weight
// and bias on U-Net shapes, 3-D inputs and inputs whose mean dwarfs their spread; the no-grad
// path, the gradient of the affine alone, the fall-backs and the error on a bad group count.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/layers/group_norm_silu.h"

using namespace rflow;

namespace {

double rel_err(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).abs().max() / (b.abs().max() + 1e-12)).item<double>();
}

void expect_matches(const std::vector<int64_t>& shape, int64_t groups, double offset, double spread) {
  torch::manual_seed(shape[1] * 7 + groups);
  auto base = torch::randn(shape) * spread + offset;
  auto w0 = torch::randn({shape[1]}) * 0.5 + 1, b0 = torch::randn({shape[1]}) * 0.3;
  auto run = [&](bool fused) {
    auto x = base.clone().requires_grad_(true), w = w0.clone().requires_grad_(true), b = b0.clone().requires_grad_(true);
    auto y = fused ? group_norm_silu(x, groups, w, b) : torch::silu(torch::group_norm(x, groups, w, b));
    // A non-uniform upstream gradient, so a mixed-up channel or group would show.
    (y * torch::linspace(-1, 2, y.numel()).view(y.sizes())).sum().backward();
    return std::vector<at::Tensor>{y.detach(), x.grad(), w.grad(), b.grad()};
  };
  auto got = run(true), ref = run(false);
  const char* names[] = {"y", "grad x", "grad weight", "grad bias"};
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(got[i].sizes(), ref[i].sizes()) << names[i];
    EXPECT_LT(rel_err(got[i], ref[i]), 2e-4) << names[i] << " offset " << offset;
  }
}

}  // namespace

TEST(GroupNormSilu, MatchesTorchInValueAndGradients) {
  expect_matches({8, 32, 28, 28}, 8, 0, 1);  // the U-Net's first level
  expect_matches({4, 16, 7, 7}, 8, 0, 3);
  expect_matches({3, 6, 19}, 3, 0, 1);        // [N, C, L]
  expect_matches({2, 4, 5, 5}, 1, 0, 1);      // one group, a spatial size the vector loops do not divide
  expect_matches({64, 32, 4}, 8, 0, 1);       // a policy's short chunk (the ATen pair takes it)
  expect_matches({2, 8, 9, 9}, 8, 0, 1);      // one channel per group
  expect_matches({4, 16, 7, 7}, 4, 100, 0.5); // mean 200× the spread: the two-pass statistics
}

TEST(GroupNormSilu, NoGradAffineOnlyAndFallBacks) {
  torch::manual_seed(5);
  auto x = torch::randn({3, 8, 6, 6}), w = torch::randn({8}), b = torch::randn({8});
  auto ref = torch::silu(torch::group_norm(x, 4, w, b));
  {
    torch::NoGradGuard ng;
    EXPECT_LT(rel_err(group_norm_silu(x, 4, w, b), ref), 1e-5);
  }
  // Only the affine trains (a frozen input): weight and bias gradients, none for x.
  auto wg = w.clone().requires_grad_(true), bg = b.clone().requires_grad_(true);
  group_norm_silu(x, 4, wg, bg).sum().backward();
  auto wr = w.clone().requires_grad_(true), br = b.clone().requires_grad_(true);
  torch::silu(torch::group_norm(x, 4, wr, br)).sum().backward();
  EXPECT_LT(rel_err(wg.grad(), wr.grad()), 2e-4);
  EXPECT_LT(rel_err(bg.grad(), br.grad()), 2e-4);
  // Double precision and a non-contiguous input.
  auto xd = x.to(torch::kDouble);
  EXPECT_TRUE(torch::allclose(group_norm_silu(xd, 4, w.to(torch::kDouble), b.to(torch::kDouble)),
                              torch::silu(torch::group_norm(xd, 4, w.to(torch::kDouble), b.to(torch::kDouble)))));
  auto xt = x.transpose(2, 3);
  EXPECT_LT(rel_err(group_norm_silu(xt, 4, w, b), torch::silu(torch::group_norm(xt, 4, w, b))), 1e-5);
  EXPECT_THROW(group_norm_silu(x, 3, w, b), Error);  // 8 channels in 3 groups
}
