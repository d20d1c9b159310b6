// The trainer end to end against closed forms: with log_every = 1 every logged lr is the schedule's
// value at that step (warm-up, then cosine), and AdamW's decoupled decay on a model whose loss has
// zero gradient shrinks every weight by exactly Π (1 − lr_t · wd).
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/methods/method_config.h"
#include "rflow/nn/torchscript_field.h"
#include "rflow/core/rng.h"
#include "rflow/data/coupling.h"
#include "rflow/nn/model_config.h"
#include "rflow/train/trainer.h"
#include "tests/test_util.h"

using namespace rflow;

namespace {

// A loss that touches every parameter and has zero gradient everywhere: only the decay moves weights.
class NoGradientLoss : public Method {
 public:
  std::string name() const override { return "zero_gradient"; }
  at::Tensor loss(const Batch& b, TrainContext& ctx) override {
    const at::Tensor t = torch::rand({b.x0.size(0)});
    return ctx.model.forward(b.x0, t).sum() * 0.0 + 1.0;
  }
};

}  // namespace

TEST(Trainer, LoggedLearningRatesFollowTheScheduleAndAdamWDecayHasItsClosedForm) {
  seed_all(0);
  test::TempDir dir;
  TrainConfig tc;
  tc.steps = 40;
  tc.warmup = 8;
  tc.schedule = "cosine";
  tc.min_lr_ratio = 0.2;
  tc.lr = 0.05;
  tc.optimizer = "adamw";
  tc.weight_decay = 0.5;
  tc.grad_clip = 1.0;
  tc.log_every = 1;
  tc.ckpt_every = 0;
  tc.batch_size = 16;
  ModelConfig mc;
  mc.arch = "mlp";
  VelocityField model = make_model(mc, {2});
  std::vector<at::Tensor> before;
  for (const auto& p : model->parameters()) before.push_back(p.detach().clone());
  auto data = make_batch_source(DataConfig{});
  NoGradientLoss method;
  Trainer trainer(tc, model, method, *data, dir.path().string(), "{}", torch::kCPU);
  const TrainResult r = trainer.run();
  ASSERT_EQ(r.step, 40);

  std::ifstream in(dir.path() / "metrics.jsonl");
  std::vector<double> lrs;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    const int64_t step = j.at("step").get<int64_t>();
    ASSERT_EQ(step, static_cast<int64_t>(lrs.size()) + 1);
    // The line after step s reports the rate that step s − 1 (0-based) trained at.
    EXPECT_DOUBLE_EQ(j.at("lr").get<double>(), learning_rate(tc, step - 1)) << step;
    EXPECT_DOUBLE_EQ(j.at("grad_norm").get<double>(), 0.0) << step;
    lrs.push_back(j.at("lr").get<double>());
  }
  ASSERT_EQ(lrs.size(), 40u);
  EXPECT_LT(lrs.front(), lrs[7]);        // warm-up rises ...
  EXPECT_GT(lrs[8], lrs.back());         // ... then the cosine falls ...
  EXPECT_NEAR(lrs.back(), learning_rate(tc, 39), 1e-15);
  double shrink = 1.0;
  for (double lr : lrs) shrink *= 1.0 - lr * tc.weight_decay;
  ASSERT_LT(shrink, 0.8);  // the decay is large enough to see
  const auto after = model->parameters();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    const at::Tensor want = before[i] * shrink;
    EXPECT_LT((after[i].detach() - want).abs().max().item<double>(), 1e-5 * (1 + want.abs().max().item<double>()))
        << "parameter " << i;
  }
}

// A network with nothing to train (a TorchScript module whose weights are constants) is refused
// by name when the trainer is built, not by autograd's "element 0 of tensors does not require grad"
// at the first step.
TEST(Trainer, AModelWithNothingToTrainIsRefusedByName) {
  rflow::test::TempDir dir;
  torch::jit::Module m("Frozen");
  m.register_buffer("w", torch::ones({2}));
  m.define(R"(
    def forward(self, x, t):
        return x * self.w
  )");
  m.save(dir.file("frozen.pt"));
  rflow::ModelConfig mc;
  mc.arch = "torchscript";
  mc.get<rflow::TorchScriptOptions>("torchscript").path = dir.file("frozen.pt");
  rflow::VelocityField field = rflow::make_model(mc, {2});
  auto data = rflow::make_coupling(rflow::DataConfig{});
  auto method = rflow::make_method(rflow::MethodConfig{});
  rflow::TrainConfig tc;
  tc.steps = 10;
  try {
    rflow::Trainer(tc, field, *method, *data, dir.file("run"), "{}", torch::kCPU);
    ADD_FAILURE() << "a model without parameters was accepted";
  } catch (const rflow::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no trainable parameters"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("TorchScript"), std::string::npos) << e.what();
    std::cout << e.what() << "\n";
  }
}
