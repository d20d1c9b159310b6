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
