// The DiT backbone: an untrained field predicts 0 and two optimiser steps make t and the label
// matter; the long skips pair block i with block L−1−i; masked context tokens become the learned
// padding vectors and cross-attention ignores the order of the context; bad shapes are refused;
// with a MoE feed-forward the trainer's hooks balance the experts' load.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "rflow/core/error.h"
#include "rflow/io/npy.h"
#include "rflow/nn/layers/attention.h"
#include "rflow/nn/dit.h"
#include "rflow/nn/model_config.h"
#include "rflow/pipeline/pipeline.h"
#include "rflow/pipeline/run_config.h"
#include "rflow/pipeline/run_context.h"
#include "tests/test_util.h"

using namespace rflow;

namespace {
ModelConfig dit_small(int64_t depth = 4, int64_t context_dim = 0) {
  ModelConfig mc;
  mc.arch = "dit";
  mc.num_classes = 3;
  auto& o = mc.get<DiTOptions>("dit");
  o.patch = 2, o.hidden = 32, o.depth = depth, o.heads = 2, o.time_dim = 32;
  o.context_dim = context_dim, o.context_len = context_dim > 0 ? 5 : 0;
  return mc;
}
std::shared_ptr<DiTImpl> as_dit(const VelocityField& f) { return std::dynamic_pointer_cast<DiTImpl>(f); }
}  // namespace

TEST(DiT, StartsAtZeroAndTrainingMakesTimeAndLabelMatter) {
  torch::manual_seed(13);
  auto m = make_model(dit_small(), {1, 8, 8});
  const auto x = torch::randn({4, 1, 8, 8});
  const auto t = torch::rand({4});
  Cond c;
  c.labels = torch::tensor({0, 1, 2, -1}, torch::kInt64);
  EXPECT_EQ(m->forward(x, t, c).abs().max().item<float>(), 0.0f);
  // Step one opens the zero output layer, step two the modulations behind it.
  torch::optim::Adam opt(m->parameters(), 1e-2);
  for (int step = 0; step < 2; ++step) {
    opt.zero_grad();
    (m->forward(x, t, c) - x).pow(2).mean().backward();
    opt.step();
  }
  torch::NoGradGuard ng;
  const auto v = m->forward(x, t, c);
  EXPECT_GT(v.abs().max().item<float>(), 0.0f);
  EXPECT_GT((m->forward(x, t * 0.5, c) - v).abs().max().item<float>(), 0.0f);
  Cond other;
  other.labels = torch::tensor({1, 2, 0, 0}, torch::kInt64);
  EXPECT_GT((m->forward(x, t, other) - v).abs().max().item<float>(), 0.0f);
  // Non-square images and several channels keep their shape; patches must divide both sides.
  auto wide = make_model(dit_small(), {3, 4, 8});
  EXPECT_EQ(wide->forward(torch::randn({2, 3, 4, 8}), torch::rand({2})).sizes(), (std::vector<int64_t>{2, 3, 4, 8}));
  EXPECT_THROW(make_model(dit_small(), {1, 7, 8}), Error);
  EXPECT_THROW(make_model(dit_small(), {2}), Error);
  ModelConfig bad = dit_small();
  bad.get<DiTOptions>("dit").heads = 4;  // head size 8 is fine ...
  EXPECT_NO_THROW(bad.validate());
  bad.get<DiTOptions>("dit").hidden = 24;  // ... 6 is not divisible by 4 for 2-D rope
  EXPECT_THROW(bad.validate(), Error);
  bad = dit_small(4, 8);
  bad.get<DiTOptions>("dit").context_len = 0;
  EXPECT_THROW(bad.validate(), Error);
}

TEST(DiT, LongSkipsPairBlockIWithItsMirror) {
  for (int64_t L : {1, 2, 3, 4, 5, 6, 40}) {
    auto m = as_dit(make_model(dit_small(L), {1, 4, 4}));
    const auto pairs = m->skip_pairs();
    EXPECT_EQ(int64_t(pairs.size()), (L - 1) / 2) << L;
    for (size_t i = 0; i < pairs.size(); ++i) {
      EXPECT_EQ(pairs[i].first, int64_t(i));
      EXPECT_EQ(pairs[i].second, L - 1 - int64_t(i));
    }
    // The middle block(s) neither push nor pop; the blocks that pop own the skip projection.
    int64_t with_skip = 0;
    for (const auto& p : m->named_parameters())
      if (p.key().find("skip_linear.weight") != std::string::npos) ++with_skip;
    EXPECT_EQ(with_skip, int64_t(pairs.size())) << L;
  }
  // Depth 40 as Hunyuan-DiT: 19 pairs, blocks 19 and 20 unpaired.
  const auto deep = as_dit(make_model(dit_small(40), {1, 4, 4}))->skip_pairs();
  EXPECT_EQ(deep.back().first, 18);
  EXPECT_EQ(deep.back().second, 21);
}

TEST(DiT, ContextPaddingAndOrderFreeCrossAttention) {
  torch::manual_seed(14);
  auto field = make_model(dit_small(2, 6), {1, 4, 4});
  auto m = as_dit(field);
  {
    torch::NoGradGuard ng;
    for (auto& p : m->parameters()) p.add_(torch::randn_like(p) * 0.1);
  }
  Cond c;
  c.context = torch::randn({2, 4, 6});
  c.mask = torch::tensor({{1, 1, 0, 1}, {0, 0, 0, 0}}, torch::kInt64);
  const auto tokens = m->context_tokens(c, 2);
  const auto pad = m->named_parameters()["ctx_padding"];
  EXPECT_EQ(tokens.sizes(), (std::vector<int64_t>{2, 5, 32}));
  EXPECT_TRUE(torch::equal(tokens[0][2], pad[2]));  // masked
  EXPECT_TRUE(torch::equal(tokens[0][4], pad[4]));  // past the context
  EXPECT_FALSE(torch::equal(tokens[0][0], pad[0]));
  EXPECT_TRUE(torch::equal(tokens[1], pad));        // all masked = the null context
  EXPECT_TRUE(torch::equal(m->context_tokens(Cond{}, 2)[0], pad));
  // Permuting the (unmasked) context tokens with their mask changes nothing.
  const auto x = torch::randn({2, 1, 4, 4});
  const auto t = torch::rand({2});
  Cond full;
  full.context = torch::randn({2, 5, 6});
  const auto v = field->forward(x, t, full);
  Cond perm = full;
  perm.context = full.context.index_select(1, torch::tensor({3, 0, 4, 1, 2}, torch::kInt64));
  EXPECT_TRUE(torch::allclose(field->forward(x, t, perm), v, 1e-5, 1e-5));
  // The context matters, and a null context (guidance) differs from it.
  EXPECT_GT((field->forward(x, t, full.null_like()) - v).abs().max().item<float>(), 1e-4f);
  Cond longer;
  longer.context = torch::randn({2, 6, 6});
  EXPECT_THROW(field->forward(x, t, longer), Error);
}

TEST(DiT, MoEFeedForwardIsBalancedThroughTheTrainersHooks) {
  test::TempDir dir;
  torch::manual_seed(15);
  io::write_npy(dir.file("img.npy"), torch::rand({64, 1, 8, 8}) * 2 - 1);
  RunConfig cfg = load_run_config(
      "", {"name=dit_moe", "out_dir=" + dir.path().string(), "model.arch=dit", "model.dit.patch=2", "model.dit.hidden=32",
           "model.dit.depth=2", "model.dit.heads=2", "model.dit.time_dim=32", "model.dit.ffn=moe",
           "model.dit.moe.experts=4", "model.dit.moe.hidden=16", "model.dit.moe.bias_rate=0.01",
           "model.dit.moe.balance_loss=0.001", "data.target.name=npy", "data.target.path=" + dir.file("img.npy"),
           "train.steps=6", "train.batch_size=8", "train.log_every=2", "stages=[\"train\"]", "threads=1"});
  const std::string run = run_pipeline(cfg);
  std::ifstream metrics(run + "/metrics.jsonl");
  std::string line, last;
  while (std::getline(metrics, line))
    if (!line.empty()) last = line;
  const auto j = nlohmann::json::parse(last);
  // max / mean load and its coefficient of variation, logged after each step: with 4 experts and
  // top 2 one expert takes at most every token (max/mean ≤ E/K = 2), and cv ≤ sqrt(E/K − 1) = 1.
  const double load_max = j.at("moe_load_max").get<double>(), cv = j.at("moe_load_cv").get<double>();
  EXPECT_GE(load_max, 1.0);
  EXPECT_LE(load_max, 2.0);
  EXPECT_LE(cv, 1.0);
  // An uneven load has a spread: max/mean above 1 means a cv above 0, and cv bounds it from below.
  EXPECT_GT(cv, 0.0);
  EXPECT_GE(load_max - 1.0, cv / std::sqrt(3.0) - 1e-9);
  EXPECT_GT(j.at("aux_loss").get<double>(), 0.0);
  // Six updates of ±0.01 moved the routing bias, which the checkpoint keeps.
  LoadedModel m = load_model(run, /*use_ema=*/false, torch::kCPU);
  const auto bias = m.model->named_buffers()["block0.moe.routing_bias"];
  EXPECT_GT(bias.abs().max().item<double>(), 0.005);
  EXPECT_LE(bias.abs().max().item<double>(), 0.06 + 1e-9);
  // The EMA copy routes with the same biases (updated before the EMA reads the buffers).
  LoadedModel ema = load_model(run, /*use_ema=*/true, torch::kCPU);
  EXPECT_TRUE(torch::equal(ema.model->named_buffers()["block0.moe.routing_bias"], bias));
}

// GPU build only (skips elsewhere): on CUDA self-attention takes the fused kernel and masked
// cross-attention the plain path; both, and the MoE dispatch, give the CPU's field, and every
// parameter gets a finite gradient there.
TEST(DiT, OnCudaMatchesTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  // The patch embedding is a convolution, which cuDNN may run in TF32 (10-bit mantissa).
  struct NoTf32 {
    bool before = at::globalContext().allowTF32CuDNN();
    NoTf32() { at::globalContext().setAllowTF32CuDNN(false); }
    ~NoTf32() { at::globalContext().setAllowTF32CuDNN(before); }
  } no_tf32;
  torch::manual_seed(16);
  // The attention function alone: fused (square causal, a non-default scale) = the plain formula.
  const auto q = torch::randn({2, 3, 7, 8}), k = torch::randn({2, 3, 7, 8}), v = torch::randn({2, 3, 7, 5});
  for (bool causal : {false, true})
    for (double scale : {0.0, 0.5}) {
      AttentionMask am;
      am.causal = causal;
      const auto ref = attention(q, k, v, am, scale);
      const auto got = attention(q.cuda(), k.cuda(), v.cuda(), am, scale).cpu();
      EXPECT_LT((got - ref).abs().max().item<double>(), 1e-4) << causal << " " << scale;
    }
  for (const bool moe : {false, true}) {
    ModelConfig mc = dit_small(2, 6);
    if (moe) {
      auto& o = mc.get<DiTOptions>("dit");
      o.ffn = "moe", o.moe.routed = 4, o.moe.hidden = 16;
    }
    auto field = make_model(mc, {1, 8, 8});
    {
      torch::NoGradGuard ng;
      for (auto& p : field->parameters()) p.add_(torch::randn_like(p) * 0.1);
    }
    const auto x = torch::randn({3, 1, 8, 8});
    const auto t = torch::rand({3});
    Cond c;
    c.labels = torch::tensor({0, 2, -1}, torch::kInt64);
    c.context = torch::randn({3, 4, 6});
    c.mask = torch::tensor({{1, 1, 0, 1}, {0, 0, 0, 0}, {1, 1, 1, 1}}, torch::kInt64);
    at::Tensor v_cpu;
    {
      torch::NoGradGuard ng;
      v_cpu = field->forward(x, t, c);
    }
    field->to(torch::kCUDA);
    Cond cc;
    cc.labels = c.labels.cuda(), cc.context = c.context.cuda(), cc.mask = c.mask.cuda();
    const auto v_gpu = field->forward(x.cuda(), t.cuda(), cc);
    ASSERT_TRUE(v_gpu.is_cuda());
    const double scale = v_cpu.abs().max().item<double>();
    EXPECT_GT(scale, 1e-3) << moe;
    EXPECT_LT((v_gpu.cpu() - v_cpu).abs().max().item<double>(), 1e-3 * scale) << moe;
    v_gpu.pow(2).mean().backward();
    for (const auto& p : field->named_parameters()) {
      if (!p.value().requires_grad()) continue;
      ASSERT_TRUE(p.value().grad().defined()) << p.key();
      EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
    }
  }
}

// One DiT across aspect ratios: a model built for one grid, given an image of another, computes
// exactly what the same weights built for that grid compute (rotary positions follow the input's
// grid, centred in one box with rope_base); learned positions fix the grid and say so.
TEST(DiT, OneModelAcrossAspectRatiosMatchesTheSameWeightsBuiltForEachGrid) {
  for (int64_t base : {0, 16}) {
    ModelConfig mc = dit_small();
    mc.get<DiTOptions>("dit").rope_base = base;
    torch::manual_seed(3);
    VelocityField square = make_model(mc, {1, 8, 8});
    {
      torch::NoGradGuard ng;  // the zero-initialised output layers would hide everything
      for (auto& p : square->parameters())
        if (p.abs().sum().item<double>() == 0) p.normal_(0, 0.2);
    }
    for (const std::vector<int64_t>& shape : {std::vector<int64_t>{1, 8, 16}, {1, 16, 8}, {1, 4, 12}}) {
      ASSERT_TRUE(square->takes_shape(shape));
      VelocityField own = make_model(mc, shape);
      {
        torch::NoGradGuard ng;
        auto from = square->named_parameters();
        for (auto& p : own->named_parameters()) p.value().copy_(from[p.key()]);
      }
      std::vector<int64_t> xs{3};
      xs.insert(xs.end(), shape.begin(), shape.end());
      const at::Tensor x = torch::randn(xs), t = torch::rand({3});
      Cond c;
      c.labels = torch::tensor({0, 2, 1}, torch::kInt64);
      const at::Tensor a = square->forward(x, t, c), b = own->forward(x, t, c);
      EXPECT_EQ(a.sizes(), x.sizes());
      EXPECT_GT(b.abs().mean().item<double>(), 1e-3);
      EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-6)) << "rope_base " << base << ", " << c10::str(shape);
    }
    EXPECT_FALSE(square->takes_shape({1, 8, 9}));  // the patch (2) does not divide 9
    EXPECT_FALSE(square->takes_shape({3, 8, 8}));  // other channels
  }
  ModelConfig learned = dit_small();
  learned.get<DiTOptions>("dit").rope = false;
  VelocityField fixed = make_model(learned, {1, 8, 8});
  EXPECT_FALSE(fixed->takes_shape({1, 8, 16}));
  EXPECT_THROW(fixed->forward(torch::randn({1, 1, 8, 16}), torch::rand({1})), Error);
}
