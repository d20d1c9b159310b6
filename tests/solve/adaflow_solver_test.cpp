// The adaflow solver against fields whose variance is known: each sample's steps are η/σ,
// bounded by 1/N and by what is left of [t0, t1], and the samples land exactly at t1.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/solve/solver.h"

using namespace rflow;

namespace {
// v = 1 everywhere; σ given per sample by the first coordinate's sign: the rows' own σ.
struct KnownVariance : VelocityFieldImpl {
  at::Tensor sigma;  // [B]
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const Cond& c) override { return torch::ones_like(x); }
  at::Tensor variance(const at::Tensor& x, const at::Tensor& t, const Cond& c) override {
    // Rows travel through cond: the solver hands only the active samples' rows.
    return c.extra.at("sigma");
  }
  std::vector<int64_t> sample_shape() const override { return {2}; }
};
struct NoVariance : VelocityFieldImpl {
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const Cond& c) override { return torch::ones_like(x); }
  std::vector<int64_t> sample_shape() const override { return {2}; }
};
}  // namespace

TEST(VarianceAdaptive, EachSampleStepsEtaOverSigmaAndLandsAtTheEnd) {
  KnownVariance field;
  Cond c;
  // η = 0.5: σ = 0.25 → Δt = 2, capped at 1 (one step); σ = 2.5 → 0.2 (five steps); σ = 100 →
  // 0.005, raised to 1/N = 0.125 (eight steps); σ = 0.8 → 0.625 then the 0.375 left (two steps).
  c.extra["sigma"] = torch::tensor({0.25f, 2.5f, 100.0f, 0.8f});
  SolveOptions opt;
  opt.method = "adaflow", opt.steps = 8;
  const FieldOptions fo{1.0, 0.5};
  const at::Tensor x0 = torch::zeros({4, 2});
  const SolveResult r = solve(field, x0, opt, c, fo);
  EXPECT_EQ(r.nfe[0].item<int64_t>(), 1);
  EXPECT_EQ(r.nfe[1].item<int64_t>(), 5);
  EXPECT_EQ(r.nfe[2].item<int64_t>(), 8);
  EXPECT_EQ(r.nfe[3].item<int64_t>(), 2);
  EXPECT_EQ(r.evaluations, 16);
  EXPECT_EQ(r.status, SolveStatus::kOk);
  // v = 1: every sample moved by exactly t1 − t0.
  EXPECT_LT((r.x - 1.0).abs().max().item<double>(), 1e-6);
  EXPECT_TRUE(torch::allclose(r.t_reached, torch::ones({4})));
  // A budget below what a sample needs stops it early, and says so.
  opt.max_nfe = 3;
  const SolveResult cut = solve(field, x0, opt, c, fo);
  EXPECT_EQ(cut.status, SolveStatus::kBudgetExhausted);
  EXPECT_EQ(cut.nfe[2].item<int64_t>(), 3);
  EXPECT_NEAR(cut.t_reached[2].item<double>(), 0.375, 1e-6);
}

TEST(VarianceAdaptive, RefusesFieldsWithoutAVarianceHeadAndBadSettings) {
  NoVariance plain;
  SolveOptions opt;
  opt.method = "adaflow";
  EXPECT_THROW(solve(plain, torch::zeros({3, 2}), opt), Error);
  KnownVariance field;
  Cond c;
  c.extra["sigma"] = torch::ones({3});
  opt.t0 = 1.0, opt.t1 = 0.0;
  EXPECT_THROW(solve(field, torch::zeros({3, 2}), opt, c), Error);
  FieldOptions bad;
  bad.eta = 0.0;
  EXPECT_THROW(bad.validate("sample"), Error);
  opt.t0 = 0.0, opt.t1 = 1.0;
  EXPECT_THROW(solve(field, torch::zeros({3, 2}), opt, c, bad), Error);
  // A FieldFn built by hand carries η too, and the solver checks it.
  EXPECT_THROW(solve(bind_field(field, c).with_eta(-1.0), torch::zeros({3, 2}), opt), Error);
}
