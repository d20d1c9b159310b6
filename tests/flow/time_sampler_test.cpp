// Training-time draws: uniform on [eps, 1] and logit-normal (SD3), checked by their moments.
#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/flow/time_sampler.h"

using namespace rflow;

TEST(TimeSampler, LogitNormalHasItsMeanAndSpreadBeforeTheSigmoid) {
  torch::manual_seed(0);
  TimeSamplerConfig c;
  c.kind = "logit_normal";
  c.logit_mean = 0.5;
  c.logit_std = 0.8;
  auto t = sample_time(c, 200000, torch::kCPU).to(torch::kFloat64);
  ASSERT_TRUE(((t > 0) & (t < 1)).all().item<bool>());
  auto z = torch::log(t / (1 - t));  // the normal draw back
  EXPECT_NEAR(z.mean().item<double>(), 0.5, 0.01);
  EXPECT_NEAR(z.std().item<double>(), 0.8, 0.01);
  // Its median is sigmoid(mean): more weight on the middle than the uniform sampler gives.
  EXPECT_NEAR(t.median().item<double>(), 1 / (1 + std::exp(-0.5)), 0.005);
}

TEST(TimeSampler, UniformCoversItsIntervalEvenly) {
  torch::manual_seed(1);
  TimeSamplerConfig c;
  c.eps = 0.1;
  auto t = sample_time(c, 200000, torch::kCPU).to(torch::kFloat64);
  EXPECT_GE(t.min().item<double>(), 0.1);
  EXPECT_LE(t.max().item<double>(), 1.0);
  EXPECT_NEAR(t.mean().item<double>(), 0.55, 0.003);
  EXPECT_NEAR(t.var().item<double>(), 0.9 * 0.9 / 12, 0.002);
}
