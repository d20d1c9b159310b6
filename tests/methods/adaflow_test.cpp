// AdaFlow on its paper's 1-D toy (fork1d): demonstrations answer obs x ≤ 0 with 0 and x > 0 with
// ±x. Trained jointly with its variance head, the policy takes one step where the answer is
// unique and more where it branches, and keeps both branches.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/rng.h"
#include "rflow/data/batch_source.h"
#include "rflow/methods/adaflow.h"
#include "rflow/nn/mlp.h"
#include "rflow/nn/model_config.h"
#include "rflow/solve/solver.h"
#include "rflow/train/trainer.h"
#include "tests/method_util.h"
#include "tests/test_util.h"

using namespace rflow;

namespace {
ModelConfig policy_model(int64_t variance_hidden) {
  ModelConfig mc;
  auto& o = mc.get<MlpOptions>("mlp");
  o.hidden = 128, o.depth = 3, o.obs_dim = 1, o.variance_hidden = variance_hidden;
  return mc;
}
}  // namespace

TEST(AdaFlow, OneStepWhereTheDemonstrationsAgreeMoreWhereTheyBranch) {
  test::TempDir dir;
  seed_all(3);
  DataConfig data;
  data.target = DistributionConfig{"fork1d"};
  auto coupling = make_coupling(data);
  ASSERT_EQ(coupling->sample_shape(), std::vector<int64_t>{1});
  auto model = make_model(policy_model(64), {1});
  MethodConfig mcfg;
  mcfg.name = "adaflow";
  auto method = make_method(mcfg);
  TrainConfig tc;
  tc.steps = 3000, tc.batch_size = 512, tc.lr = 2e-3, tc.ckpt_every = 0, tc.log_every = 1000, tc.ema_decay = 0.99;
  Trainer(tc, model, *method, *coupling, dir.path().string(), "{}", torch::kCPU).run();
  model->eval();
  torch::NoGradGuard ng;

  SolveOptions opt;
  opt.method = "adaflow", opt.steps = 10;  // η: the default 0.1
  const int64_t n = 400;
  for (float obs : {-6.0f, -2.0f, 2.0f, 6.0f}) {
    Cond c;
    c.extra["obs"] = torch::full({n, 1}, obs);
    const SolveResult r = solve(*model, torch::randn({n, 1}), opt, c);
    const double nfe = r.nfe.to(torch::kFloat64).mean().item<double>();
    const at::Tensor y = r.x.squeeze(1);
    if (obs < 0) {
      EXPECT_LT(nfe, 1.3) << "obs " << obs;  // one step: the flow is straight here
      EXPECT_LT(y.abs().mean().item<double>(), 0.15 * std::abs(obs)) << "obs " << obs;
    } else {
      EXPECT_GT(nfe, 2.5) << "obs " << obs;  // the branch costs steps
      const double up = (y > 0).to(torch::kFloat64).mean().item<double>();
      EXPECT_GT(up, 0.25) << "obs " << obs;  // both branches kept
      EXPECT_LT(up, 0.75) << "obs " << obs;
      EXPECT_LT((y.abs() - obs).abs().mean().item<double>(), 0.2 * obs) << "obs " << obs;
    }
    std::cout << "obs " << obs << ": mean NFE " << nfe << ", mean |y| " << y.abs().mean().item<double>() << "\n";
  }
}

TEST(AdaFlow, NeedsAVarianceHeadAndTheFlowLearnsAsUnderRectifiedFlow) {
  seed_all(4);
  DataConfig data;
  data.target = DistributionConfig{"fork1d"};
  auto coupling = make_coupling(data);
  MethodConfig mcfg;
  mcfg.name = "adaflow";
  auto method = make_method(mcfg);
  const Batch b = coupling->next(64, torch::kCPU);
  ASSERT_EQ(b.cond.extra.count("obs"), 1u);
  auto headless = make_model(policy_model(0), {1});
  EXPECT_THROW(test::method_loss(*method, b, *headless), Error);
  // The variance term never reaches the flow's weights: with the NLL weighted 0 and 1, the
  // velocity layers get the same gradient.
  auto model = make_model(policy_model(32), {1});
  auto grad_of = [&](double w) {
    MethodConfig c = mcfg;
    c.get<AdaFlowOptions>("adaflow").variance_weight = w;
    auto m = make_method(c);
    model->zero_grad();
    seed_all(5);
    test::method_loss(*m, b, *model).backward();
    return model->named_parameters()["out.weight"].grad().clone();
  };
  EXPECT_TRUE(torch::allclose(grad_of(0.0), grad_of(1.0), 1e-6, 1e-7));
}
