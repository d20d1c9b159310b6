// rflow::linear against at::linear: values and all three gradients, with and without bias, 2-D and
// 3-D inputs, in and out of grad mode; with oneDNN switched off it must be at::linear exactly.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/nn/linear.h"

using namespace rflow;

namespace {

struct Grads {
  at::Tensor y, gx, gw, gb;
};

Grads run(bool onednn, const at::Tensor& x0, const at::Tensor& w0, const at::Tensor& b0) {
  set_onednn_gemm(onednn);
  auto x = x0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true);
  at::Tensor b = b0.defined() ? b0.clone().requires_grad_(true) : at::Tensor();
  auto y = rflow::linear(x, w, b);
  // A non-uniform upstream gradient, so a transposed product would show.
  auto up = torch::linspace(-1, 1, y.numel()).view(y.sizes());
  (y * up).sum().backward();
  Grads g{y.detach(), x.grad(), w.grad(), b.defined() ? b.grad() : at::Tensor()};
  set_onednn_gemm(true);
  return g;
}

void expect_close(const at::Tensor& a, const at::Tensor& b, const char* what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const double scale = b.abs().max().item<double>() + 1e-6;
  EXPECT_LT((a - b).abs().max().item<double>() / scale, 1e-5) << what;
}

}  // namespace

TEST(Linear, MatchesAtLinearWithGradients) {
  torch::manual_seed(0);
  // The shapes of a 2-D flow MLP (2 → 256 → 256 → 2) and odd ones, from one row up.
  for (auto [in, out] : {std::pair{33, 17}, std::pair{2, 256}, std::pair{256, 256}, std::pair{256, 2}})
  for (auto rows : {1, 2, 7, 32, 33, 300}) {  // at least 32 rows take oneDNN's path
    for (bool bias : {true, false}) {
      auto x = torch::randn({rows, in}), w = torch::randn({out, in});
      at::Tensor b = bias ? torch::randn({out}) : at::Tensor();
      auto ref = run(false, x, w, b), got = run(true, x, w, b);
      expect_close(got.y, ref.y, "y");
      expect_close(got.gx, ref.gx, "grad x");
      expect_close(got.gw, ref.gw, "grad w");
      if (bias) expect_close(got.gb, ref.gb, "grad b");
      // The weights are inputs, never outputs (a one-row GEMM once wrote into the bias).
      if (bias) {
        auto b_before = b.clone();
        set_onednn_gemm(true);
        torch::NoGradGuard ng;
        (void)rflow::linear(x, w, b);
        EXPECT_TRUE(torch::equal(b, b_before)) << rows << " rows";
      }
      // And the reference is at::linear itself.
      auto direct = at::linear(x, w, b);
      EXPECT_TRUE(torch::equal(ref.y, direct));
    }
  }
}

TEST(Linear, KeepsLeadingDimensionsAndNonContiguousInputs) {
  torch::manual_seed(1);
  auto x = torch::randn({4, 5, 8}).transpose(0, 1);  // [5, 4, 8], not contiguous
  auto w = torch::randn({3, 8}), b = torch::randn({3});
  auto ref = run(false, x, w, b), got = run(true, x, w, b);
  ASSERT_EQ(got.y.sizes(), (std::vector<int64_t>{5, 4, 3}));
  expect_close(got.y, ref.y, "y");
  expect_close(got.gx, ref.gx, "grad x");
  expect_close(got.gw, ref.gw, "grad w");
}

TEST(Linear, NoGradPathAndOtherDtypesFallBack) {
  torch::manual_seed(2);
  auto x = torch::randn({9, 6}), w = torch::randn({4, 6}), b = torch::randn({4});
  {
    torch::NoGradGuard ng;
    expect_close(rflow::linear(x, w, b), at::linear(x, w, b), "no-grad");
  }
  auto xd = x.to(torch::kDouble), wd = w.to(torch::kDouble), bd = b.to(torch::kDouble);
  EXPECT_TRUE(torch::equal(rflow::linear(xd, wd, bd), at::linear(xd, wd, bd)));  // at::linear exactly
}
