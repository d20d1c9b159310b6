// JanusFlow's generation path: the prompt's cached keys reused across ODE steps give the velocity
// of a full recompute; the field's own solve equals Euler with classifier-free guidance step by
// step (w = 1 conditional, w = 0 unconditional); generation never reads the understanding encoder;
// the two encoders share no parameter; and a tiny model fits two prompted images.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/janusflow.h"
#include "rflow/solve/butcher.h"

using namespace rflow;

namespace {

JanusFlowOptions tiny() {
  JanusFlowOptions o;
  o.words = 24;
  o.lm.dim = 32, o.lm.layers = 2, o.lm.dense_layers = 1, o.lm.dense_hidden = 64;
  o.lm.mla.heads = 2, o.lm.mla.kv_rank = 8, o.lm.mla.nope_dim = 8, o.lm.mla.rope_dim = 4, o.lm.mla.v_dim = 8;
  o.lm.moe.routed = 4, o.lm.moe.top_k = 2, o.lm.moe.hidden = 32;
  o.gen_channels = 8, o.gen_blocks = 1;
  o.vision.width = 16, o.vision.layers = 1, o.vision.heads = 2;
  o.repa_layer = 1, o.repa_dim = 6;
  return o;
}

Cond prompts(std::vector<std::vector<int64_t>> rows) {
  Cond c;
  std::vector<at::Tensor> t;
  for (auto& r : rows) t.push_back(torch::tensor(r, torch::kInt64));
  c.context = torch::stack(t);
  c.mask = (c.context != 0).to(torch::kFloat32);
  return c;
}

}  // namespace

TEST(JanusFlow, PromptCacheReuseEqualsFullRecompute) {
  for (bool bidirectional : {false, true}) {
    torch::manual_seed(0);
    JanusFlowOptions o = tiny();
    o.bidirectional_image = bidirectional;
    auto m = std::make_shared<JanusFlowImpl>(o, std::vector<int64_t>{1, 28, 56});
    m->eval();
    torch::NoGradGuard ng;
    const Cond c = prompts({{5, 6, 7, 0}, {9, 8, 0, 0}});
    PromptCache pc = m->prefill_prompt(c, 98);
    for (double tv : {0.0, 0.3, 0.9}) {  // the same cache, step after step
      const at::Tensor x = torch::randn({2, 1, 28, 56}), t = torch::full({2}, tv);
      const at::Tensor full = m->forward(x, t, c), cached = m->velocity_after(pc, x, t);
      EXPECT_LT((full - cached).abs().max().item<float>(), 1e-4f * (1 + full.abs().max().item<float>()))
          << tv << " bidirectional " << bidirectional;
    }
  }
}

// Without ConvNeXt blocks a patch's velocity reads only its own latent state, so what reaches the
// top-left patch from the bottom-right one came through attention: never under the causal mask,
// always when the image tokens attend both ways.
TEST(JanusFlow, BidirectionalImageTokensSeeTheWholeImage) {
  for (bool bidirectional : {false, true}) {
    torch::manual_seed(5);
    JanusFlowOptions o = tiny();
    o.gen_blocks = 0;
    o.bidirectional_image = bidirectional;
    auto m = std::make_shared<JanusFlowImpl>(o, std::vector<int64_t>{1, 28, 28});
    m->eval();
    torch::NoGradGuard ng;
    const Cond c = prompts({{5, 6, 7}});
    const at::Tensor x = torch::randn({1, 1, 28, 28}), t = torch::full({1}, 0.4);
    at::Tensor x2 = x.clone();
    x2.narrow(2, 24, 4).narrow(3, 24, 4).add_(1.0);  // the last patch
    const at::Tensor first = m->forward(x, t, c).narrow(2, 0, 4).narrow(3, 0, 4);
    const at::Tensor first2 = m->forward(x2, t, c).narrow(2, 0, 4).narrow(3, 0, 4);
    const float moved = (first - first2).abs().max().item<float>();
    if (bidirectional)
      EXPECT_GT(moved, 1e-4f);
    else
      EXPECT_EQ(moved, 0.0f);
  }
}

// Two patches with the same pixels at different places: with grid positions the model can tell
// them apart even with no ConvNeXt to see the borders; without, only through the 1-D rotary keys.
TEST(JanusFlow, GridPositionsReachTheVelocityInBothPaths) {
  JanusFlowOptions o = tiny();
  o.gen_blocks = 0, o.bidirectional_image = true;
  torch::manual_seed(7);
  auto plain = std::make_shared<JanusFlowImpl>(o, std::vector<int64_t>{1, 28, 28});
  o.grid_positions = true;
  torch::manual_seed(7);
  auto placed = std::make_shared<JanusFlowImpl>(o, std::vector<int64_t>{1, 28, 28});
  plain->eval(), placed->eval();
  torch::NoGradGuard ng;
  const Cond c = prompts({{5, 6, 7}});
  const at::Tensor x = torch::randn({1, 1, 28, 28}), t = torch::full({1}, 0.4);
  // The same weights: the only difference is the added vectors, so the velocities differ ...
  EXPECT_GT((plain->forward(x, t, c) - placed->forward(x, t, c)).abs().max().item<float>(), 1e-4f);
  // ... and the cache path adds them too.
  PromptCache pc = placed->prefill_prompt(c, 49);
  EXPECT_LT((placed->velocity_after(pc, x, t) - placed->forward(x, t, c)).abs().max().item<float>(), 1e-4f);
  o.lm.dim = 30;
  EXPECT_THROW(o.validate("model.janusflow"), Error);
}

TEST(JanusFlow, OwnSolveEqualsGuidedEulerStepByStep) {
  torch::manual_seed(1);
  auto m = std::make_shared<JanusFlowImpl>(tiny(), std::vector<int64_t>{1, 28, 28});
  m->eval();
  torch::NoGradGuard ng;
  const Cond c = prompts({{5, 6, 7}, {9, 8, 4}});
  const at::Tensor x0 = torch::randn({2, 1, 28, 28});
  const std::vector<double> grid{0.0, 0.25, 0.5, 1.0};
  for (double w : {1.0, 0.0, 2.0}) {
    const FastSolve f = m->fast_solve(x0, c, SolvePlan{&euler_tableau(), grid, w});
    ASSERT_TRUE(f.x.defined());
    at::Tensor x = x0.clone();
    for (size_t i = 0; i + 1 < grid.size(); ++i) {
      const at::Tensor t = torch::full({2}, grid[i]);
      const at::Tensor vc = m->forward(x, t, c), vu = m->forward(x, t, c.null_like());
      x = x + (grid[i + 1] - grid[i]) * (w * vc - (w - 1) * vu);
    }
    EXPECT_LT((f.x - x).abs().max().item<float>(), 2e-4f) << "guidance " << w;
  }
  // The null prompt ignores the prompt's words: two prompts, one unconditional field.
  const at::Tensor x = torch::randn({2, 1, 28, 28}), t = torch::full({2}, 0.5);
  EXPECT_TRUE(torch::allclose(m->forward(x, t, c.null_like()), m->forward(x, t, prompts({{1, 2, 3}, {4, 5, 6}}).null_like())));
  EXPECT_FALSE(torch::allclose(m->forward(x, t, c), m->forward(x, t, prompts({{1, 2, 3}, {4, 5, 6}}))));
}

TEST(JanusFlow, GenerationNeverReadsTheUnderstandingEncoder) {
  torch::manual_seed(2);
  auto m = std::make_shared<JanusFlowImpl>(tiny(), std::vector<int64_t>{1, 28, 28});
  torch::NoGradGuard ng;
  for (auto& p : m->part_parameters("vision")) p.fill_(std::numeric_limits<float>::quiet_NaN());
  const Cond c = prompts({{5, 6, 7}});
  const auto g = m->generate(torch::randn({1, 1, 28, 28}), torch::full({1}, 0.4), c, true);
  EXPECT_TRUE(torch::isfinite(g.velocity).all().item<bool>());
  EXPECT_TRUE(torch::isfinite(g.repa).all().item<bool>());
  EXPECT_EQ(g.repa.sizes(), (std::vector<int64_t>{1, 49, 6}));
  // Decoupled: no tensor belongs to both encoders, and every parameter is in exactly one part.
  std::set<const void*> seen;
  int64_t in_parts = 0;
  for (const auto& part : JanusFlowImpl::part_names())
    for (const auto& p : m->part_parameters(part)) {
      EXPECT_TRUE(seen.insert(p.data_ptr()).second) << part;
      ++in_parts;
    }
  EXPECT_EQ(in_parts, int64_t(m->parameters().size()));
}

TEST(JanusFlow, FitsTwoPromptedImages) {
  torch::manual_seed(3);
  JanusFlowOptions o = tiny();
  o.gen_channels = 32;  // a 4 × 4 patch's 16 pixels must fit through the encoder and its skip
  auto m = std::make_shared<JanusFlowImpl>(o, std::vector<int64_t>{1, 28, 28});
  const at::Tensor x1 = torch::cat({-torch::ones({1, 1, 28, 28}), torch::ones({1, 1, 28, 28})});
  x1[0].slice(2, 0, 14).fill_(1);  // left half bright
  const Cond c = prompts({{5, 6}, {7, 8}});
  torch::optim::AdamW opt(m->parameters(), torch::optim::AdamWOptions(3e-3));
  double first = 0, last = 0;
  for (int step = 0; step < 800; ++step) {
    const at::Tensor x0 = torch::randn_like(x1), t = torch::rand({2});
    const at::Tensor tt = t.view({2, 1, 1, 1});
    const at::Tensor loss = (m->forward(tt * x1 + (1 - tt) * x0, t, c) - (x1 - x0)).pow(2).mean();
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (step < 10) first += loss.item<double>() / 10;
    if (step >= 790) last += loss.item<double>() / 10;
  }
  EXPECT_LT(last, first / 4) << first << " → " << last;
  m->eval();
  torch::NoGradGuard ng;
  const FastSolve f = m->fast_solve(torch::randn({2, 1, 28, 28}), c, SolvePlan{&euler_tableau(), {0, .25, .5, .75, 1}, 1.0});
  // Each prompt draws its own image: closer to it than to the other one.
  const auto d = [&](int64_t i, int64_t j) { return (f.x[i] - x1[j]).pow(2).mean().item<double>(); };
  std::cout << "fit " << first << " → " << last << "; distances " << d(0, 0) << " " << d(0, 1) << " " << d(1, 1) << " " << d(1, 0) << "\n";
  EXPECT_LT(d(0, 0), 0.5 * d(0, 1));
  EXPECT_LT(d(1, 1), 0.5 * d(1, 0));
}
