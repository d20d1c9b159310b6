// rflow::linear against at::linear: values and all three gradients, with and without bias, 2-D and
// 3-D inputs, in and out of grad mode; with oneDNN switched off it must be at::linear exactly.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/nn/layers/linear.h"

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

TEST(Linear, DirectWeightGradientsAddIntoTheExistingGradients) {
  torch::manual_seed(3);
  auto x = torch::randn({64, 16}), w0 = torch::randn({8, 16}), b0 = torch::randn({8});
  const auto ref = run(true, x, w0, b0);
  // Gradients already holding something (a second micro-batch, or a loss using the layer twice):
  // the direct path must add to them, as autograd's accumulation would.
  auto w = w0.clone().requires_grad_(true), b = b0.clone().requires_grad_(true);
  auto xg = x.clone().requires_grad_(true);
  w.mutable_grad() = torch::full_like(w, 0.5);
  b.mutable_grad() = torch::full_like(b, -0.25);
  const void* w_grad_storage = w.grad().data_ptr();
  {
    DirectWeightGradients direct;
    auto y = rflow::linear(xg, w, b);
    auto up = torch::linspace(-1, 1, y.numel()).view(y.sizes());
    (y * up).sum().backward();
  }
  EXPECT_EQ(w.grad().data_ptr(), w_grad_storage);  // written in place, not replaced
  expect_close(w.grad(), ref.gw + 0.5, "grad w");
  expect_close(b.grad(), ref.gb - 0.25, "grad b");
  expect_close(xg.grad(), ref.gx, "grad x");

  // Asking autograd for the input's gradient only must leave the parameters' gradients alone.
  auto w_before = w.grad().clone(), b_before = b.grad().clone();
  {
    DirectWeightGradients direct;
    auto xi = x.clone().requires_grad_(true);
    auto gx = torch::autograd::grad({rflow::linear(xi, w, b).sum()}, {xi})[0];
    EXPECT_EQ(gx.sizes(), x.sizes());
  }
  EXPECT_TRUE(torch::equal(w.grad(), w_before));
  EXPECT_TRUE(torch::equal(b.grad(), b_before));

  // Without a .grad to add into, the parameter takes autograd's route even inside the scope.
  auto w2 = w0.clone().requires_grad_(true), b2 = b0.clone().requires_grad_(true);
  {
    DirectWeightGradients direct;
    auto y = rflow::linear(x, w2, b2);
    (y * torch::linspace(-1, 1, y.numel()).view(y.sizes())).sum().backward();
  }
  expect_close(w2.grad(), ref.gw, "grad w, no prior .grad");
  expect_close(b2.grad(), ref.gb, "grad b, no prior .grad");

  // A hook on the weight still sees the weight's gradient.
  auto w3 = w0.clone().requires_grad_(true);
  w3.mutable_grad() = torch::zeros_like(w3);
  at::Tensor seen;
  w3.register_hook([&](const at::Tensor& g) { seen = g.clone(); });
  {
    DirectWeightGradients direct;
    auto y = rflow::linear(x, w3, b0);
    (y * torch::linspace(-1, 1, y.numel()).view(y.sizes())).sum().backward();
  }
  ASSERT_TRUE(seen.defined());
  expect_close(seen, ref.gw, "hooked grad w");
  expect_close(w3.grad(), ref.gw, "grad w with a hook");
}
