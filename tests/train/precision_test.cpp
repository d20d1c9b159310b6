// train.precision = bf16: the forward pass under CPU autocast trains a U-Net like fp32 does (same
// losses to a few percent from the same start), with fp32 weights; unknown values are refused.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/rng.h"
#include "rflow/methods/method_config.h"
#include "rflow/nn/model_config.h"
#include "rflow/nn/unet.h"
#include "rflow/train/trainer.h"
#include "tests/test_util.h"

using namespace rflow;

namespace {

// Noise → a few fixed blobs (one per class): learnable in tens of steps.
class Blobs : public BatchSource {
 public:
  Batch next(int64_t n, c10::Device device) override {
    auto idx = torch::randint(0, 3, {n}, torch::kInt64);
    auto x1 = patterns_.index_select(0, idx) + 0.05 * torch::randn({n, 1, 14, 14});
    return Batch{torch::randn({n, 1, 14, 14}).to(device), x1.to(device), Cond{idx.to(device)}};
  }
  std::vector<int64_t> sample_shape() const override { return {1, 14, 14}; }
  int64_t num_classes() const override { return 3; }

 private:
  at::Tensor patterns_ = [] {
    torch::manual_seed(11);
    return torch::nn::functional::avg_pool2d(torch::randn({3, 1, 14, 14}),
                                             torch::nn::functional::AvgPool2dFuncOptions(3).stride(1).padding(1)) * 3;
  }();
};

TrainResult train(const std::string& precision, const std::string& dir, std::vector<double>* params_sum) {
  seed_all(4);
  ModelConfig mc;
  mc.arch = "unet";
  mc.num_classes = 3;
  auto& u = mc.get<UNetOptions>("unet");
  u.channels = 8;
  u.channel_mult = {1, 2};
  u.attn_resolutions = {7};
  u.heads = 2;
  u.norm_groups = 4;
  auto model = make_model(mc, {1, 14, 14});
  auto method = make_method(MethodConfig{});
  Blobs data;
  TrainConfig tc;
  tc.steps = 60;
  tc.batch_size = 16;
  tc.lr = 2e-3;
  tc.warmup = 5;
  tc.log_every = 20;
  tc.ckpt_every = 0;
  tc.precision = precision;
  auto r = Trainer(tc, model, *method, data, dir, "{}", torch::kCPU).run();
  for (const auto& p : model->parameters()) {
    EXPECT_EQ(p.scalar_type(), torch::kFloat) << "weights stay fp32";
    params_sum->push_back(p.abs().sum().item<double>());
  }
  return r;
}

}  // namespace

TEST(Precision, Bf16AutocastTrainsLikeFp32) {
  test::TempDir dir;
  std::vector<double> p32, p16;
  auto a = train("fp32", dir.file("fp32"), &p32);
  auto b = train("bf16", dir.file("bf16"), &p16);
  ASSERT_TRUE(std::isfinite(b.last_loss));
  EXPECT_NE(b.last_loss, a.last_loss) << "bf16 must actually change the arithmetic";
  EXPECT_NEAR(b.last_loss, a.last_loss, 0.1 * a.last_loss) << "fp32 " << a.last_loss << " bf16 " << b.last_loss;
  // The first logged window (steps 1–20) is near the start: training must have moved well below it.
  auto first_loss = [](const std::string& path) {
    std::string line = test::read_text(path);
    return nlohmann::json::parse(line.substr(0, line.find('\n')))["loss"].get<double>();
  };
  EXPECT_LT(b.last_loss, 0.7 * first_loss(dir.file("bf16/metrics.jsonl")));
  ASSERT_EQ(p32.size(), p16.size());
  for (size_t i = 0; i < p32.size(); ++i) EXPECT_NEAR(p16[i], p32[i], 0.05 * p32[i] + 1e-3) << "parameter " << i;
}

TEST(Precision, UnknownValuesAreRefused) {
  TrainConfig tc;
  tc.precision = "fp16";
  EXPECT_THROW(tc.validate(), Error);
}
