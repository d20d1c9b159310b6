// Flat parameters and the fused Adam/AdamW, clipping and EMA against torch::optim and the per-tensor
// EMA they replace: same values to rounding after many steps, state that round-trips through
// optimizer.pt (including files written by torch's own Adam), gradients accumulated in place.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/nn/ema.h"
#include "rflow/nn/flat_parameters.h"
#include "rflow/nn/model_config.h"
#include "rflow/train/fused_adam.h"
#include "tests/test_util.h"

using namespace rflow;

namespace {

struct Net : torch::nn::Module {
  Net() {
    a = register_module("a", torch::nn::Linear(5, 16));
    b = register_module("b", torch::nn::Linear(16, 3));
  }
  at::Tensor forward(const at::Tensor& x) { return b->forward(torch::tanh(a->forward(x))); }
  torch::nn::Linear a{nullptr}, b{nullptr};
};

std::shared_ptr<Net> make_net(torch::Dtype dtype) {
  torch::manual_seed(7);
  auto n = std::make_shared<Net>();
  n->to(dtype);
  return n;
}

at::Tensor loss_of(Net& n, int step, torch::Dtype dtype) {
  torch::manual_seed(100 + step);
  auto x = torch::randn({32, 5}, dtype);
  // A scale that sometimes exceeds the clip, sometimes not.
  return (n.forward(x) * (1 + step % 3)).pow(2).mean();
}

TrainConfig adam_config(const std::string& opt, double wd) {
  TrainConfig c;
  c.optimizer = opt;
  c.weight_decay = wd;
  c.lr = 1e-2;
  return c;
}

std::unique_ptr<torch::optim::Optimizer> torch_opt(const TrainConfig& c, std::vector<at::Tensor> p) {
  if (c.optimizer == "adamw")
    return std::make_unique<torch::optim::AdamW>(p, torch::optim::AdamWOptions(c.lr).weight_decay(c.weight_decay));
  return std::make_unique<torch::optim::Adam>(p, torch::optim::AdamOptions(c.lr).weight_decay(c.weight_decay));
}

double max_rel_diff(torch::nn::Module& a, torch::nn::Module& b) {
  double worst = 0;
  auto pa = a.parameters(), pb = b.parameters();
  for (size_t i = 0; i < pa.size(); ++i)
    worst = std::max(worst, ((pa[i] - pb[i]).abs().max() / (pb[i].abs().max() + 1e-12)).item<double>());
  return worst;
}

}  // namespace

TEST(FlatParameters, ViewsKeepValuesAndCollectGradients) {
  auto n = make_net(torch::kFloat);
  std::vector<at::Tensor> before;
  for (auto& p : n->parameters()) before.push_back(p.detach().clone());
  FlatParameters flat(*n);
  ASSERT_TRUE(flat.defined());
  int64_t total = 0;
  auto ps = n->parameters();
  for (size_t i = 0; i < ps.size(); ++i) {
    EXPECT_TRUE(torch::equal(ps[i], before[i]));
    total += ps[i].numel();
  }
  EXPECT_EQ(flat.data().numel(), total);
  flat.data().fill_(0.5);  // writes through to every parameter
  for (auto& p : n->parameters()) EXPECT_TRUE(torch::all(p == 0.5).item<bool>());
  loss_of(*n, 0, torch::kFloat).backward();
  EXPECT_TRUE(flat.intact());
  EXPECT_GT(flat.grad().abs().sum().item<double>(), 0);
  auto g1 = flat.grad().clone();
  loss_of(*n, 0, torch::kFloat).backward();  // accumulates into the same views
  EXPECT_TRUE(torch::allclose(flat.grad(), 2 * g1));
  n->a->weight.set_data(torch::zeros_like(n->a->weight));  // something re-allocates a parameter
  EXPECT_FALSE(flat.intact());

  // Frozen parameters (a flow kept fixed while a head trains) keep the per-tensor path.
  auto frozen = make_net(torch::kFloat);
  frozen->a->weight.set_requires_grad(false);
  EXPECT_FALSE(FlatParameters(*frozen).defined());
  EXPECT_TRUE(FlatParameters(*frozen, false).defined());  // a frozen copy needs no gradients
}

TEST(FusedAdam, MatchesTorchOptimAdamAndAdamWWithClipping) {
  for (auto dtype : {torch::kFloat, torch::kDouble}) {  // the vectorised loop, and the ATen ops
    for (auto [name, wd] : {std::pair{"adam", 0.0}, std::pair{"adam", 0.1}, std::pair{"adamw", 0.1}}) {
      const auto cfg = adam_config(name, wd);
      auto ref = make_net(dtype), got = make_net(dtype);
      auto ropt = torch_opt(cfg, ref->parameters());
      FlatParameters flat(*got);
      auto gopt = torch_opt(cfg, got->parameters());
      FusedAdam fused(*gopt, flat, cfg);
      for (int step = 0; step < 60; ++step) {
        const double lr = cfg.lr * (step < 30 ? 1.0 : 0.5);
        for (auto& g : ropt->param_groups()) g.options().set_lr(lr);
        ropt->zero_grad();
        loss_of(*ref, step, dtype).backward();
        const double rnorm = torch::nn::utils::clip_grad_norm_(ref->parameters(), 0.02);
        ropt->step();

        flat.zero_grad();
        loss_of(*got, step, dtype).backward();
        GradNorm gn = grad_norm_flat(flat, 0.02);
        // Float runs drift apart by rounding (Adam divides by sqrt(v)); a wrong formula is off by far more.
        EXPECT_NEAR(gn.norm.item<double>(), rnorm, (dtype == torch::kFloat ? 1e-3 : 1e-9) * rnorm) << name << " step " << step;
        fused.step(lr, gn.scale);
      }
      EXPECT_LT(max_rel_diff(*got, *ref), dtype == torch::kFloat ? 1e-3 : 1e-9) << name << " wd " << wd;
      EXPECT_EQ(fused.steps(), 60);
    }
  }
}

TEST(FusedAdam, NormFromTheUpdatePassEqualsTheSeparateNorm) {
  // Without clipping the trainer takes the gradient norm out of the Adam pass itself: it must be the
  // norm grad_norm_flat computes, and the update must be the one step() without it makes.
  const auto cfg = adam_config("adam", 0.0);
  auto a = make_net(torch::kFloat), b = make_net(torch::kFloat);
  FlatParameters fa(*a), fb(*b);
  auto oa = torch_opt(cfg, a->parameters()), ob = torch_opt(cfg, b->parameters());
  FusedAdam ua(*oa, fa, cfg), ub(*ob, fb, cfg);
  for (int step = 0; step < 20; ++step) {
    fa.zero_grad();
    fb.zero_grad();
    loss_of(*a, step, torch::kFloat).backward();
    loss_of(*b, step, torch::kFloat).backward();
    const double expected = grad_norm_flat(fa, 0).norm.item<double>();
    at::Tensor norm;
    ua.step(cfg.lr, {}, &norm);
    ub.step(cfg.lr);
    ASSERT_TRUE(norm.defined());
    EXPECT_NEAR(norm.item<double>(), expected, 1e-6 * expected) << "step " << step;
    EXPECT_TRUE(torch::equal(fa.data(), fb.data())) << "step " << step;
  }
}

TEST(FusedAdam, StateRoundTripsThroughTorchSerialisation) {
  test::TempDir dir;
  const auto cfg = adam_config("adam", 0.0);
  // Written by torch's own Adam (older checkpoints), resumed by the fused one: it must continue
  // exactly as torch's Adam would.
  auto ref = make_net(torch::kFloat);
  auto ropt = torch_opt(cfg, ref->parameters());
  for (int step = 0; step < 10; ++step) {
    ropt->zero_grad();
    loss_of(*ref, step, torch::kFloat).backward();
    ropt->step();
  }
  torch::save(*ropt, dir.file("opt.pt"));
  auto resumed = make_net(torch::kFloat);
  {
    torch::NoGradGuard ng;
    auto pr = resumed->parameters(), pf = ref->parameters();
    for (size_t i = 0; i < pr.size(); ++i) pr[i].copy_(pf[i]);
  }
  FlatParameters flat(*resumed);
  auto gopt = torch_opt(cfg, resumed->parameters());
  FusedAdam fused(*gopt, flat, cfg);
  torch::load(*gopt, dir.file("opt.pt"));
  fused.adopt_state();
  EXPECT_EQ(fused.steps(), 10);
  for (int step = 10; step < 20; ++step) {
    ropt->zero_grad();
    loss_of(*ref, step, torch::kFloat).backward();
    ropt->step();
    flat.zero_grad();
    loss_of(*resumed, step, torch::kFloat).backward();
    fused.step(cfg.lr);
  }
  EXPECT_LT(max_rel_diff(*resumed, *ref), 1e-5);

  // And what the fused optimizer writes, torch's Adam reads back with the same moments.
  torch::save(*gopt, dir.file("fused.pt"));
  auto other = make_net(torch::kFloat);
  auto oopt = torch_opt(cfg, other->parameters());
  torch::load(*oopt, dir.file("fused.pt"));
  const torch::optim::AdamParamState& st = static_cast<torch::optim::AdamParamState&>(*oopt->state().begin()->second);
  EXPECT_EQ(st.step(), 20);
  EXPECT_GT(st.exp_avg_sq().abs().sum().template item<double>(), 0);
}

TEST(FusedAdam, FlatEmaEqualsPerTensorEma) {
  auto model = make_model(ModelConfig{}, {2});
  auto copy = make_model(ModelConfig{}, {2});
  {
    torch::NoGradGuard ng;
    auto a = model->parameters(), b = copy->parameters();
    for (size_t i = 0; i < a.size(); ++i) b[i].copy_(a[i]);
  }
  Ema flat_ema(*model, 0.9), ref_ema(*copy, 0.9);
  FlatParameters flat(*model);
  for (int i = 0; i < 25; ++i) {
    torch::NoGradGuard ng;
    torch::manual_seed(i);
    auto noise = torch::randn_like(flat.data());
    flat.data().add_(noise);
    auto b = copy->parameters();
    int64_t off = 0;
    for (auto& p : b) {
      p.add_(noise.narrow(0, off, p.numel()).view(p.sizes()));
      off += p.numel();
    }
    flat_ema.update(*model, flat);
    ref_ema.update(*copy);
  }
  auto sa = flat_ema.state(), sb = ref_ema.state();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i].first, sb[i].first);
    EXPECT_LT((sa[i].second - sb[i].second).abs().max().item<double>(), 1e-6) << sa[i].first;
  }
  EXPECT_EQ(flat_ema.updates(), 25);
}
