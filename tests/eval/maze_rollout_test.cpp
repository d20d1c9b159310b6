// Closed-loop maze rollouts: an oracle policy (each chunk the shortest path with random ties)
// always arrives and takes both routes; flow policies trained on the demonstrations: AdaFlow
// arrives as often as the 20-step flow with about one evaluation per chunk and keeps both routes,
// behaviour cloning (the mean action) keeps at most one; the temporal U-Net policy does as AdaFlow's MLP.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/rng.h"
#include "rflow/data/batch_source.h"
#include "rflow/eval/maze_rollout.h"
#include "rflow/methods/method_config.h"
#include "rflow/nn/mlp.h"
#include "rflow/nn/model_config.h"
#include "rflow/nn/temporal_unet.h"
#include "rflow/train/trainer.h"
#include "tests/test_util.h"

using namespace rflow;

namespace {

// The demonstrator as a field: at t the velocity that carries x to a shortest-path chunk by t = 1.
struct Oracle : VelocityFieldImpl {
  GridMaze maze = GridMaze::named("ring");
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const Cond& c) override {
    const at::Tensor obs = c.extra.at("obs");
    at::Tensor target = torch::zeros_like(x);
    for (int64_t i = 0; i < x.size(0); ++i) {
      GridMaze::Cell cell{static_cast<int>(std::lround((obs[i][0].item<float>() + 1) / 2 * (maze.width() - 1))),
                          static_cast<int>(std::lround((obs[i][1].item<float>() + 1) / 2 * (maze.height() - 1)))};
      for (int64_t h = 0; h < x.size(1) && cell != maze.goal(); ++h) {
        const auto next = maze.best_moves(cell);
        const auto n = next[torch::randint(static_cast<int64_t>(next.size()), {1}).item<int64_t>()];
        target[i][h][0] = n.first - cell.first, target[i][h][1] = n.second - cell.second;
        cell = n;
      }
    }
    return (target - x) / (1 - t).view({-1, 1, 1});
  }
  std::vector<int64_t> sample_shape() const override { return {4, 2}; }
};

VelocityField train_policy(const std::string& method, const std::string& dir, const std::string& arch = "mlp") {
  seed_all(11);
  DataConfig data;
  data.target = DistributionConfig{"maze"};
  auto coupling = make_coupling(data);
  ModelConfig mc;
  mc.arch = arch;
  auto& o = mc.get<MlpOptions>("mlp");
  o.hidden = 128, o.depth = 3, o.obs_dim = 2, o.variance_hidden = method == "adaflow" ? 64 : 0;
  auto& u = mc.get<TemporalUNetOptions>("temporal_unet");
  u.channels = 16, u.norm_groups = 4, u.obs_dim = 2, u.variance_hidden = 64;
  auto model = make_model(mc, coupling->sample_shape());
  MethodConfig m;
  m.name = method;
  auto meth = make_method(m);
  TrainConfig tc;
  tc.steps = 2500, tc.batch_size = 256, tc.lr = 2e-3, tc.ckpt_every = 0, tc.log_every = 1000, tc.ema_decay = 0.99;
  // The convolutional policy costs ~10x the MLP per step: fewer, smaller batches (still enough).
  if (arch == "temporal_unet") tc.steps = 1200, tc.batch_size = 128;
  Trainer(tc, model, *meth, *coupling, dir, "{}", torch::kCPU).run();
  model->eval();
  return model;
}

}  // namespace

TEST(MazeRollout, TheDemonstratorArrivesByBothRoutes) {
  torch::manual_seed(1);
  Oracle oracle;
  eval::RolloutOptions opt;
  opt.episodes = 60;
  opt.solve.method = "euler", opt.solve.steps = 1;
  const auto r = eval::rollout_maze(oracle, oracle.maze, opt);
  EXPECT_EQ(r.successes, 60);
  EXPECT_EQ(r.collisions_per_episode, 0.0);
  EXPECT_EQ(r.distinct_routes, 2);
  EXPECT_GT(r.route_entropy_bits, 0.8);
  EXPECT_DOUBLE_EQ(r.mean_nfe, 1.0);
  EXPECT_DOUBLE_EQ(r.chunks_per_episode, 6.0);  // 12 moves, 2 per chunk
  for (const auto& p : r.paths) EXPECT_EQ(p.size(), 13u);
}

TEST(MazeRollout, AdaFlowArrivesLikeTheManyStepFlowInAboutOneStepAndKeepsBothRoutes) {
  test::TempDir dir;
  const GridMaze maze = GridMaze::named("ring");
  VelocityField ada = train_policy("adaflow", dir.file("ada"));
  VelocityField bc = train_policy("bc", dir.file("bc"));
  eval::RolloutOptions opt;
  opt.episodes = 100;
  torch::manual_seed(2);
  // η = 0.5, at most 10 steps: AdaFlow's evaluation setting (its README: η 0.5, N_max 5).
  opt.solve.method = "adaflow", opt.solve.steps = 10, opt.field.eta = 0.5;
  const auto adaptive = eval::rollout_maze(*ada, maze, opt);
  opt.solve.method = "euler", opt.solve.steps = 20;
  const auto fixed20 = eval::rollout_maze(*ada, maze, opt);
  opt.solve.steps = 1;
  const auto cloned = eval::rollout_maze(*bc, maze, opt);
  std::cout << "adaflow: success " << adaptive.success_rate << ", NFE " << adaptive.mean_nfe << ", routes "
            << adaptive.distinct_routes << " (" << adaptive.route_entropy_bits << " bits)\n"
            << "euler 20: success " << fixed20.success_rate << ", routes " << fixed20.distinct_routes << " ("
            << fixed20.route_entropy_bits << " bits)\n"
            << "bc: success " << cloned.success_rate << ", routes " << cloned.distinct_routes << " ("
            << cloned.route_entropy_bits << " bits)\n";
  EXPECT_GE(adaptive.success_rate, 0.9);
  EXPECT_GE(adaptive.success_rate, fixed20.success_rate - 0.1);
  EXPECT_LE(adaptive.mean_nfe, 2.0);
  EXPECT_GE(adaptive.distinct_routes, 2);
  EXPECT_GT(adaptive.route_entropy_bits, 0.7);
  EXPECT_LT(cloned.route_entropy_bits, 0.3);  // the mean action picks one way, or none
}

TEST(MazeRollout, TheTemporalUNetPolicyArrivesInAboutOneStepToo) {
  test::TempDir dir;
  const GridMaze maze = GridMaze::named("ring");
  VelocityField ada = train_policy("adaflow", dir.file("ada"), "temporal_unet");
  eval::RolloutOptions opt;
  opt.episodes = 100;
  torch::manual_seed(2);
  opt.solve.method = "adaflow", opt.solve.steps = 10, opt.field.eta = 0.5;
  const auto adaptive = eval::rollout_maze(*ada, maze, opt);
  std::cout << "temporal U-Net, adaflow: success " << adaptive.success_rate << ", NFE " << adaptive.mean_nfe
            << ", routes " << adaptive.distinct_routes << " (" << adaptive.route_entropy_bits << " bits)\n";
  EXPECT_GE(adaptive.success_rate, 0.9);
  EXPECT_LE(adaptive.mean_nfe, 2.0);
  EXPECT_GE(adaptive.distinct_routes, 2);
  EXPECT_GT(adaptive.route_entropy_bits, 0.7);
}
