// JanusFlow's objective: one step trains generation (rectified flow + REPA) and understanding
// (answers only) together; frozen parts get no gradient; the REPA target (the frozen perceptual
// network's features of the clean image) carries none; bad settings are refused by name.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/eval/fidnet.h"
#include "rflow/flow/path.h"
#include "rflow/methods/janusflow_method.h"
#include "rflow/nn/janusflow.h"
#include "rflow/pipeline/run_config.h"

using namespace rflow;

namespace {

std::shared_ptr<JanusFlowImpl> small_janusflow() {
  JanusFlowOptions o;
  o.lm.dim = 32, o.lm.layers = 2, o.lm.dense_hidden = 64;
  o.lm.mla.heads = 2, o.lm.mla.kv_rank = 8, o.lm.mla.nope_dim = 8, o.lm.mla.rope_dim = 4, o.lm.mla.v_dim = 8;
  o.lm.moe.routed = 4, o.lm.moe.top_k = 2, o.lm.moe.hidden = 32;
  o.gen_channels = 8, o.gen_blocks = 1;
  o.vision.width = 16, o.vision.layers = 1, o.vision.heads = 2;
  o.repa_layer = 1;
  return std::make_shared<JanusFlowImpl>(o, std::vector<int64_t>{1, 28, 56});
}

Batch a_batch() {
  torch::manual_seed(4);
  Batch b;
  b.x0 = torch::randn({4, 1, 28, 56});
  b.x1 = torch::rand({4, 1, 28, 56}) * 2 - 1;
  b.cond.context = torch::randint(4, 20, {4, 9}, torch::kInt64);
  b.cond.mask = torch::ones({4, 9});
  return b;
}

}  // namespace

TEST(JanusFlowMethod, FrozenPartsGetNoGradientAndEveryLossIsLogged) {
  eval::add_fidnet_repa_target(repa_targets());
  auto m = small_janusflow();
  MethodConfig mc;
  mc.name = "janusflow";
  mc.get<JanusFlowTrainOptions>("janusflow").freeze = {"vision", "gen_decoder"};
  auto method = make_method(mc);
  auto path = make_path("linear");
  TrainContext ctx{*m, *path, 0};
  const at::Tensor loss = method->loss(a_batch(), ctx);
  loss.backward();
  for (const char* k : {"rf_loss", "repa_loss", "und_loss", "und_accuracy"}) EXPECT_TRUE(ctx.metrics.count(k)) << k;
  // REPA's cosine is in [−1, 1]; the understanding loss starts near ln(vocabulary).
  EXPECT_LE(ctx.metrics["repa_loss"].item<double>(), 1.0);
  EXPECT_GE(ctx.metrics["repa_loss"].item<double>(), -1.0);
  EXPECT_GT(ctx.metrics["und_loss"].item<double>(), 1.0);
  for (const char* frozen : {"vision", "gen_decoder"})
    for (const auto& p : m->part_parameters(frozen)) {
      EXPECT_FALSE(p.requires_grad()) << frozen;
      EXPECT_FALSE(p.grad().defined()) << frozen;
    }
  for (const char* trained : {"lm", "gen_encoder", "repa_head"}) {
    double norm = 0;
    for (const auto& p : m->part_parameters(trained))
      if (p.grad().defined()) norm += p.grad().norm().item<double>();
    EXPECT_GT(norm, 0.0) << trained;
  }
}

TEST(JanusFlowMethod, RepaTargetCarriesNoGradientAndMatchesTheLatentGrid) {
  eval::add_fidnet_repa_target(repa_targets());
  const FeatureGrid target = repa_targets().get("percept")({1, 28, 56}, 4);
  const at::Tensor x = (torch::rand({2, 1, 28, 56}) * 2 - 1).requires_grad_(true);
  const at::Tensor f = target(x);
  EXPECT_FALSE(f.requires_grad());
  EXPECT_EQ(f.sizes(), (std::vector<int64_t>{2, 98, 64}));
  // Token k of row r, column c of the 7 × 14 grid reads cell c / 7: the right cell's features
  // change when only the right garment does.
  at::Tensor y = x.detach().clone();
  y.slice(3, 28, 56).fill_(0.5);
  const at::Tensor g = target(y);
  const at::Tensor diff = (f - g).abs().sum(-1).view({2, 7, 14});
  EXPECT_EQ(diff.narrow(2, 0, 7).max().item<float>(), 0.0f);
  EXPECT_GT(diff.narrow(2, 7, 7).min().item<float>(), 0.0f);
}

TEST(JanusFlowMethod, RefusesBadSettingsByName) {
  eval::add_fidnet_repa_target(repa_targets());
  MethodConfig mc;
  mc.name = "janusflow";
  mc.get<JanusFlowTrainOptions>("janusflow").freeze = {"encoder"};
  EXPECT_THROW(make_method(mc), Error);
  mc.get<JanusFlowTrainOptions>("janusflow").freeze = {};
  mc.get<JanusFlowTrainOptions>("janusflow").repa_target = "siglip";
  EXPECT_THROW(make_method(mc), Error);
  mc.get<JanusFlowTrainOptions>("janusflow").repa_target = "percept";
  mc.get<JanusFlowTrainOptions>("janusflow").und_layouts = "row9";
  EXPECT_THROW(make_method(mc), Error);
}

TEST(JanusFlowMethod, ARunPairingItWithAnotherBackboneIsRefusedBeforeTraining) {
  RunConfig cfg;
  cfg.method.name = "janusflow";
  cfg.model.arch = "mlp";
  try {
    cfg.validate();
    FAIL() << "janusflow with an MLP accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.arch"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("trains the janusflow backbone"), std::string::npos) << e.what();
  }
}
