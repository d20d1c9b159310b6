#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/model_config.h"
#include "rflow/nn/unet.h"
#include "rflow/solve/solver.h"

using namespace rflow;

namespace {
ModelConfig small_unet(int64_t classes = 0) {
  ModelConfig mc;
  mc.arch = "unet";
  auto& u = mc.get<UNetOptions>("unet");
  u.channels = 16;
  u.channel_mult = {1, 2};
  u.res_blocks = 1;
  u.attn_resolutions = {7};
  u.heads = 2;
  u.norm_groups = 4;
  mc.num_classes = classes;
  return mc;
}
}  // namespace

TEST(UNet, OutputHasTheInputShapeAndStartsAtZero) {
  torch::manual_seed(0);
  auto m = make_model(small_unet(), {1, 14, 14});
  auto x = torch::randn({3, 1, 14, 14});
  auto v = m->forward(x, torch::rand({3}));
  EXPECT_EQ(v.sizes(), x.sizes());
  EXPECT_EQ(v.abs().max().item<float>(), 0.0f);  // zero-initialised output conv
  EXPECT_THROW(m->forward(torch::randn({3, 1, 12, 14}), torch::rand({3})), Error);
  EXPECT_THROW(make_model(small_unet(), {1, 15, 15}), Error);  // not divisible by 2
  EXPECT_THROW(make_model(small_unet(), {2}), Error);          // not an image
  ModelConfig bad = small_unet();
  bad.get<UNetOptions>("unet").channels = 10;  // not divisible by 4 groups
  EXPECT_THROW(bad.validate(), Error);
}

TEST(UNet, GradientsReachEveryParameter) {
  torch::manual_seed(1);
  auto m = make_model(small_unet(3), {1, 14, 14});
  torch::optim::Adam opt(m->parameters(), torch::optim::AdamOptions(1e-3));
  auto x = torch::randn({8, 1, 14, 14});
  auto t = torch::rand({8});
  Cond c;
  c.labels = torch::tensor({0, 1, 2, -1, 0, 1, 2, -1}, torch::kInt64);
  // Zero-initialised layers (the output conv, each block's last conv) pass no gradient until a step
  // has moved them: each step unlocks one more layer of the chain, so check after a few.
  for (int step = 0; step < 4; ++step) {
    opt.zero_grad();
    auto loss = (m->forward(x, t, c) - x).pow(2).mean();
    loss.backward();
    if (step < 3) {
      opt.step();
      continue;
    }
    for (const auto& p : m->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << p.key();
      EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
      EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
    }
  }
}

TEST(UNet, OutputDependsOnEachSamplesOwnTime) {
  torch::manual_seed(2);
  auto m = make_model(small_unet(), {1, 14, 14});
  torch::optim::Adam opt(m->parameters(), torch::optim::AdamOptions(1e-2));
  auto x = torch::randn({4, 1, 14, 14});
  // A few steps towards a time-dependent target (t · x), so the zero-initialised layers open up.
  for (int step = 0; step < 20; ++step) {
    auto t = torch::rand({4});
    opt.zero_grad();
    (m->forward(x, t) - t.view({4, 1, 1, 1}) * x).pow(2).mean().backward();
    opt.step();
  }
  torch::NoGradGuard ng;
  m->eval();
  auto t = torch::tensor({0.1f, 0.4f, 0.6f, 0.9f});
  auto v = m->forward(x, t);
  auto t2 = t.clone();
  t2[2] = 0.2f;  // only sample 2's time changes
  auto v2 = m->forward(x, t2);
  const double moved = (v2[2] - v[2]).abs().max().item<double>();
  EXPECT_GT(moved, 1e-3 * v[2].abs().max().item<double>()) << "the field ignores t";
  for (int i : {0, 1, 3}) EXPECT_LT((v2[i] - v[i]).abs().max().item<double>(), 1e-6) << "sample " << i << " saw another's time";
}

TEST(UNet, ClassifierFreeGuidanceEndsAreTheUnconditionalAndConditionalFields) {
  torch::manual_seed(2);
  auto m = make_model(small_unet(4), {1, 14, 14});
  {  // move off the zero output so the fields differ
    torch::NoGradGuard ng;
    for (auto& p : m->parameters()) p.add_(torch::randn_like(p) * 0.05);
  }
  m->eval();
  torch::NoGradGuard ng;
  auto x = torch::randn({4, 1, 14, 14});
  auto t = torch::rand({4});
  Cond c;
  c.labels = torch::tensor({0, 1, 2, 3}, torch::kInt64);
  Cond u;
  u.labels = torch::full({4}, -1, torch::kInt64);
  auto vc = m->forward(x, t, c), vu = m->forward(x, t, u);
  EXPECT_GT((vc - vu).abs().max().item<float>(), 1e-4f);
  EXPECT_TRUE(torch::allclose(guided_field(*m, c, 1.0)(x, t), vc, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(guided_field(*m, c, 0.0)(x, t), vu, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(guided_field(*m, c, 2.5)(x, t), vu + 2.5 * (vc - vu), 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(m->forward(x, t, Cond{}), vu, 1e-6, 1e-6));  // no labels = "no label"
}

TEST(UNet, SizesFromAboutOneToTenMillionParameters) {
  ModelConfig mc;
  mc.arch = "unet";
  mc.get<UNetOptions>("unet").channels = 32;  // defaults: mult 1,2,2, 2 blocks, attention at 7
  int64_t small = count_parameters(*make_model(mc, {1, 28, 28}));
  mc.get<UNetOptions>("unet").channels = 80;
  int64_t large = count_parameters(*make_model(mc, {1, 28, 28}));
  EXPECT_GT(small, 500000);
  EXPECT_LT(small, 2000000);
  EXPECT_GT(large, 5000000);
  EXPECT_LT(large, 12000000);
  std::cout << "unet parameters: channels 32 → " << small << ", channels 80 → " << large << "\n";
}

// GPU build only (skips elsewhere): the same weights give the same field on CUDA as on the CPU, and
// the guided field solves there with fixed and per-sample adaptive steps.
TEST(UNet, OnCudaMatchesTheCpuAndSolves) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(3);
  auto m = make_model(small_unet(3), {1, 14, 14});
  {
    torch::NoGradGuard ng;  // move the zero-initialised layers off zero so the outputs say something
    for (auto& p : m->parameters()) p.add_(torch::randn_like(p) * 0.05);
  }
  m->eval();
  torch::NoGradGuard ng;
  auto x = torch::randn({6, 1, 14, 14});
  auto t = torch::rand({6});
  Cond c{torch::tensor({0, 1, 2, -1, 0, 1}, torch::kInt64)};
  auto v_cpu = m->forward(x, t, c);
  SolveOptions euler;
  euler.steps = 4;
  auto x_cpu = solve(guided_field(*m, c, 1.5), x, euler).x;
  m->to(torch::kCUDA);
  Cond cc{c.labels.cuda()};
  auto v_gpu = m->forward(x.cuda(), t.cuda(), cc);
  ASSERT_TRUE(v_gpu.is_cuda());
  // cuDNN may use TF32 convolutions (10-bit mantissa): agreement to ~1e-3 of the scale.
  const double scale = v_cpu.abs().max().item<double>();
  EXPECT_GT(scale, 1e-3);
  EXPECT_LT((v_gpu.cpu() - v_cpu).abs().max().item<double>(), 1e-2 * scale);
  auto r = solve(guided_field(*m, cc, 1.5), x.cuda(), euler);
  EXPECT_LT((r.x.cpu() - x_cpu).abs().max().item<double>(), 1e-2 * x_cpu.abs().max().item<double>());
  SolveOptions dopri;
  dopri.method = "dopri5";
  dopri.rtol = dopri.atol = 1e-3;
  auto a = solve(guided_field(*m, cc, 1.5), x.cuda(), dopri);
  EXPECT_TRUE(a.x.is_cuda());
  EXPECT_TRUE(torch::isfinite(a.x).all().item<bool>());
  EXPECT_GE(a.nfe.min().item<int64_t>(), 6);
}
