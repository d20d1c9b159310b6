// Gaussian → Gaussian flows have closed-form densities: the forward-solve log p of generated samples
// and the backward-solve log p of given points must equal log N(x; μ, s²).
#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/solve/likelihood.h"

using namespace rflow;

namespace {
const double kPi = 3.14159265358979323846;
at::Tensor mu() { return torch::tensor({1.0, -2.0, 0.5}, torch::kFloat64); }
// Scales whose product is not 1: the flow changes volume (Σ log s = log 1.5), so the sign of the
// divergence integral shows in log p (with 0.5 · 2 · 1 it cancelled and no sign error could).
at::Tensor sd() { return torch::tensor({0.5, 2.0, 1.5}, torch::kFloat64); }

FieldFn ideal() {
  return [](const at::Tensor& x, const at::Tensor& t) {
    auto s2 = sd().pow(2).to(x.dtype());
    auto m = mu().to(x.dtype());
    auto tt = t.to(x.dtype()).unsqueeze(1);
    auto coef = (tt * s2 - (1 - tt)) / ((1 - tt).pow(2) + tt.pow(2) * s2);
    return m + coef * (x - tt * m);
  };
}
at::Tensor log_normal(const at::Tensor& x, const at::Tensor& m, const at::Tensor& s) {
  auto z = (x.to(torch::kFloat64) - m) / s;
  return -0.5 * z.pow(2).sum(1) - s.log().sum() - 0.5 * x.size(1) * std::log(2 * kPi);
}
at::Tensor std_normal(const at::Tensor& x) { return log_normal(x, torch::zeros({x.size(1)}, torch::kFloat64), torch::ones({x.size(1)}, torch::kFloat64)); }
}  // namespace

TEST(Likelihood, ForwardAndBackwardMatchTheExactGaussianDensity) {
  torch::manual_seed(0);
  SolveOptions o;
  o.method = "rk4";
  o.steps = 200;
  o.t1 = 1.0 - 1e-6;  // the ideal field is singular only at exactly t = 1 when s → 0; stay clear anyway
  auto x0 = torch::randn({256, 3}, torch::kFloat64);
  auto fwd = sample_with_log_prob(ideal(), x0, o, LikelihoodOptions{}, std_normal);
  auto exact = log_normal(fwd.x, mu(), sd());
  EXPECT_LT((fwd.log_p - exact).abs().max().item<double>(), 1e-4);

  auto x1 = torch::randn({256, 3}, torch::kFloat64) * sd() + mu();
  auto back = log_prob(ideal(), x1, o, LikelihoodOptions{}, std_normal);
  EXPECT_LT((back.log_p - log_normal(x1, mu(), sd())).abs().max().item<double>(), 1e-4);
  // The backward solve lands on the noise that generates x1: z = (x1 − μ)/s for this flow.
  EXPECT_LT((back.x - (x1 - mu()) / sd()).abs().max().item<double>(), 1e-4);

  // Adaptive solver too, and bits/dim is −log p / (D ln 2).
  o.method = "dopri5";
  o.rtol = o.atol = 1e-7;
  auto ad = log_prob(ideal(), x1, o, LikelihoodOptions{}, std_normal);
  EXPECT_LT((ad.log_p - log_normal(x1, mu(), sd())).abs().max().item<double>(), 1e-4);
  EXPECT_NEAR(bits_per_dim(ad.log_p, 3)[0].item<double>(), -ad.log_p[0].item<double>() / (3 * std::log(2.0)), 1e-12);
}

TEST(Likelihood, HutchinsonIsUnbiasedForTheExactDivergence) {
  torch::manual_seed(1);
  auto A = torch::randn({6, 6}, torch::kFloat64);
  FieldFn lin = [&](const at::Tensor& x, const at::Tensor&) { return torch::matmul(torch::tanh(x), A.t()); };
  auto x = torch::randn({4000, 6}, torch::kFloat64) * 0.5;
  auto t = torch::zeros({4000});
  auto exact = divergence(lin, x, t, at::Tensor(), at::Tensor());
  // Closed form: div = Σ_i A_ii (1 − tanh² x_i).
  auto closed = ((1 - torch::tanh(x).pow(2)) * A.diagonal()).sum(1);
  EXPECT_LT((exact - closed).abs().max().item<double>(), 1e-10);
  for (bool gaussian : {false, true}) {
    auto probes = gaussian ? torch::randn({4000, 6, 1}, torch::kFloat64)
                           : torch::randint(0, 2, {4000, 6, 1}, torch::kFloat64) * 2 - 1;
    auto est = divergence(lin, x, t, at::Tensor(), probes);
    auto err = est - exact;
    // Unbiased: the mean error is within 4 standard errors of 0.
    double se = err.std().item<double>() / std::sqrt(4000.0);
    EXPECT_LT(std::abs(err.mean().item<double>()), 4 * se) << (gaussian ? "gaussian" : "rademacher");
    EXPECT_GT(se, 0.0);
  }
  // More probes, less variance.
  auto p1 = torch::randint(0, 2, {4000, 6, 1}, torch::kFloat64) * 2 - 1;
  auto p16 = torch::randint(0, 2, {4000, 6, 16}, torch::kFloat64) * 2 - 1;
  EXPECT_LT((divergence(lin, x, t, at::Tensor(), p16) - exact).std().item<double>(),
            0.5 * (divergence(lin, x, t, at::Tensor(), p1) - exact).std().item<double>());
  LikelihoodOptions bad;
  bad.divergence = "trace";
  EXPECT_THROW(bad.validate(), Error);
}

// log_prob integrates from data back to noise: an explicit time grid given in the forward order is
// walked in reverse, with the same result as the uniform steps it lists.
TEST(Likelihood, AnExplicitGridIsWalkedBackwards) {
  torch::manual_seed(3);
  auto x1 = torch::randn({64, 3}, torch::kFloat64) * sd() + mu();
  SolveOptions o;
  o.method = "rk4";
  o.steps = 100;
  o.t1 = 1.0 - 1e-6;
  auto by_steps = log_prob(ideal(), x1, o, LikelihoodOptions{}, std_normal);
  SolveOptions g = o;
  for (int i = 0; i <= 100; ++i) g.grid.push_back(o.t1 * i / 100.0);
  auto by_grid = log_prob(ideal(), x1, g, LikelihoodOptions{}, std_normal);
  EXPECT_LT((by_grid.log_p - by_steps.log_p).abs().max().item<double>(), 1e-9);
  EXPECT_LT((by_grid.log_p - log_normal(x1, mu(), sd())).abs().max().item<double>(), 1e-4);
}

// Hutchinson's estimate inside the per-sample adaptive solve: each sample keeps its probe for the
// whole solve (FFJORD) and takes its own steps; the log-densities are unbiased for the exact ones.
TEST(Likelihood, HutchinsonInsidePerSampleDopri5IsUnbiasedForTheExactDensity) {
  torch::manual_seed(4);
  const int64_t n = 2000;
  auto x1 = torch::randn({n, 3}, torch::kFloat64) * sd() * 1.5 + mu();
  SolveOptions o;
  o.method = "dopri5";
  o.rtol = o.atol = 1e-6;
  o.t1 = 1.0 - 1e-6;
  LikelihoodOptions lo;
  lo.divergence = "hutchinson";
  lo.probe = "gaussian";  // this field's Jacobian is diagonal: Rademacher probes would be exact
  const auto est = log_prob(ideal(), x1, o, lo, std_normal);
  const auto err = est.log_p - log_normal(x1, mu(), sd());
  const double se = err.std().item<double>() / std::sqrt(double(n));
  EXPECT_GT(err.std().item<double>(), 1e-3);  // a real estimate, not the exact divergence
  EXPECT_LT(std::abs(err.mean().item<double>()), 4 * se);
  // Per-sample step control: samples far from the mean take more steps than those near it.
  EXPECT_LT(est.solve.nfe.min().item<int64_t>(), est.solve.nfe.max().item<int64_t>());
  // The exact divergence on the same solve is exact to the tolerance.
  const auto exact = log_prob(ideal(), x1, o, LikelihoodOptions{}, std_normal);
  EXPECT_LT((exact.log_p - log_normal(x1, mu(), sd())).abs().max().item<double>(), 1e-4);
}
