// 1-RF between Gaussians has a closed-form ideal velocity (per dimension, X0 ~ N(0, 1),
// X1 ~ N(μ, s²)): v(x, t) = μ + (t s² − (1 − t)) / ((1 − t)² + t² s²) · (x − t μ).
// A trained MLP must match it, and its 100-step solve must carry noise to the target's moments.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/rng.h"
#include "rflow/methods/method_config.h"
#include "rflow/nn/mlp.h"
#include "rflow/nn/model_config.h"
#include "rflow/solve/solver.h"
#include "rflow/train/trainer.h"
#include "tests/method_util.h"
#include "tests/test_util.h"

using namespace rflow;

namespace {
const std::vector<double> kMu{2.0, -1.0}, kStd{0.5, 1.5};

at::Tensor ideal_velocity(const at::Tensor& x, const at::Tensor& t) {
  auto mu = torch::tensor(kMu), s2 = torch::tensor(kStd).pow(2);
  auto tt = t.unsqueeze(1);
  auto coef = (tt * s2 - (1 - tt)) / ((1 - tt).pow(2) + tt.pow(2) * s2);
  return mu + coef * (x - tt * mu);
}
}  // namespace

TEST(RectifiedFlow, LearnsTheClosedFormGaussianVelocity) {
  test::TempDir dir;
  seed_all(7);
  DataConfig data;
  data.target = DistributionConfig{"gaussian"};
  data.target.get<GaussianOptions>("gaussian").mean = kMu;
  data.target.get<GaussianOptions>("gaussian").std = kStd;
  auto coupling = make_coupling(data);
  ModelConfig mc;
  mc.get<MlpOptions>("mlp").hidden = 128;
  auto model = make_model(mc, {2});
  auto method = make_method(MethodConfig{});
  TrainConfig tc;
  tc.steps = 3000;
  tc.batch_size = 512;
  tc.lr = 2e-3;
  tc.ema_decay = 0.995;
  tc.ckpt_every = 0;
  tc.log_every = 1000;
  Trainer trainer(tc, model, *method, *coupling, dir.path().string(), "{}", torch::kCPU);
  trainer.run();
  // Weights as they end (the EMA is exercised by the pipeline tests).
  model->eval();
  torch::NoGradGuard ng;

  // Test points where the data has mass: x ~ the path's marginal at each t.
  for (double tv : {0.1, 0.5, 0.9}) {
    auto x0 = torch::randn({2000, 2});
    auto x1 = torch::randn({2000, 2}) * torch::tensor(kStd) + torch::tensor(kMu);
    auto t = torch::full({2000}, tv);
    auto x = tv * x1 + (1 - tv) * x0;
    auto err = (model->forward(x, t) - ideal_velocity(x, t)).pow(2).sum(1).mean().sqrt().item<double>();
    auto scale = ideal_velocity(x, t).pow(2).sum(1).mean().sqrt().item<double>();
    // Relative RMS error within 8% of the velocity's RMS size.
    EXPECT_LT(err / scale, 0.08) << "t = " << tv << " rms err " << err << " rms v " << scale;
  }

  auto z0 = torch::randn({20000, 2});
  SolveOptions o;
  o.steps = 100;
  auto z1 = solve(*model, z0, o).x;
  auto mean = z1.mean(0), std = z1.std(0);
  for (int d = 0; d < 2; ++d) {
    EXPECT_NEAR(mean[d].item<double>(), kMu[d], 0.05) << "dim " << d;
    EXPECT_NEAR(std[d].item<double>() / kStd[d], 1.0, 0.05) << "dim " << d;
  }
}

namespace {
// Records the labels each call receives; a learnable scalar keeps the loss differentiable.
struct LabelProbe : VelocityFieldImpl {
  LabelProbe() { w = register_parameter("w", torch::zeros({1})); }
  at::Tensor forward(const at::Tensor& x, const at::Tensor&, const Cond& c) override {
    seen.push_back(c.labels.defined() ? c.labels.clone() : at::Tensor());
    return x * w;
  }
  std::vector<int64_t> sample_shape() const override { return {2}; }
  at::Tensor w;
  std::vector<at::Tensor> seen;
};
}  // namespace

// Label dropout happens inside the loss: the field sees −1 ("unconditional") for about the configured
// share of the batch, the real label otherwise; the batch's own labels are left alone.
TEST(RectifiedFlow, LabelDropoutReplacesThatShareOfLabelsInTheLoss) {
  seed_all(3);
  MethodConfig mc;
  mc.label_dropout = 0.25;
  auto method = make_method(mc);
  LabelProbe probe;
  Batch b;
  b.x0 = torch::randn({4000, 2});
  b.x1 = torch::randn({4000, 2});
  b.cond.labels = torch::arange(4000, torch::kInt64) % 7;
  const auto labels_before = b.cond.labels.clone();
  (void)test::method_loss(*method, b, probe);
  ASSERT_EQ(probe.seen.size(), 1u);
  const auto& seen = probe.seen[0];
  const auto dropped = (seen == -1);
  const double share = dropped.to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(share, 0.25, 0.03);  // 4000 draws: the standard error is 0.007
  EXPECT_TRUE(torch::equal(seen.masked_select(~dropped), labels_before.masked_select(~dropped)));
  EXPECT_TRUE(torch::equal(b.cond.labels, labels_before));
  mc.label_dropout = 0.0;
  auto keep = make_method(mc);
  (void)test::method_loss(*keep, b, probe);
  EXPECT_TRUE(torch::equal(probe.seen[1], labels_before));
}
