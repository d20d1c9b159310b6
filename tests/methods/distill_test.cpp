#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/rng.h"
#include "rflow/data/pair_shards.h"
#include "rflow/methods/distill.h"
#include "rflow/methods/cond_dropout.h"
#include "rflow/methods/method_config.h"
#include "rflow/nn/mlp.h"
#include "rflow/nn/model_config.h"
#include "tests/method_util.h"

using namespace rflow;

namespace {

// v(x, t) = c, recording its inputs: lets the loss be checked against a closed form.
class ConstFieldImpl : public VelocityFieldImpl {
 public:
  explicit ConstFieldImpl(at::Tensor c) : c_(register_parameter("c", std::move(c))) {}
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const Cond& cond) override {
    last_x = x.detach().clone();
    last_t = t.detach().clone();
    last_labels = cond.labels;
    return c_.expand_as(x);
  }
  std::vector<int64_t> sample_shape() const override { return {c_.size(0)}; }
  at::Tensor c_, last_x, last_t, last_labels;
};

Batch random_pairs(int64_t n) {
  Batch b{torch::randn({n, 3}), torch::randn({n, 3}) + 2.0, {}};
  b.cond.labels = torch::randint(0, 4, {n}, torch::kInt64);
  return b;
}

}  // namespace

TEST(Distill, OneStepL2IsTheEndpointErrorAtTimeZero) {
  torch::manual_seed(0);
  auto field = std::make_shared<ConstFieldImpl>(torch::tensor({0.5f, -1.0f, 2.0f}));
  DistillConfig cfg;
  Distill d(cfg, 0.0);
  Batch b = random_pairs(64);
  double loss = test::method_loss(d, b, *field).item<double>();
  EXPECT_TRUE(torch::all(field->last_t == 0).item<bool>());
  EXPECT_TRUE(torch::allclose(field->last_x, b.x0));
  // One Euler step from z0 lands at z0 + c; its squared distance to z1, averaged over elements.
  double expect = (b.x0 + field->c_ - b.x1).pow(2).mean().item<double>();
  EXPECT_NEAR(loss, expect, 1e-6 * expect);
  EXPECT_TRUE(torch::equal(field->last_labels, b.cond.labels));  // no dropout asked for
}

TEST(Distill, KStepStudentIsAskedOnlyAtItsGridTimesOnTheStraightLine) {
  torch::manual_seed(1);
  auto field = std::make_shared<ConstFieldImpl>(torch::zeros({3}));
  DistillConfig cfg;
  cfg.steps = 4;
  Distill d(cfg, 0.0);
  Batch b = random_pairs(400);
  double loss = test::method_loss(d, b, *field).item<double>();
  auto t = field->last_t;
  auto grid_idx = t * 4;
  EXPECT_TRUE(torch::allclose(grid_idx, grid_idx.round(), 0, 1e-6));
  EXPECT_EQ(t.min().item<float>(), 0.0f);
  EXPECT_EQ(t.max().item<float>(), 0.75f);
  auto tb = t.unsqueeze(1);
  EXPECT_TRUE(torch::allclose(field->last_x, tb * b.x1 + (1 - tb) * b.x0, 1e-6, 1e-6));
  // Velocity-space L2 (the reference's k-step loss): v = 0, so it is the mean of (z1 − z0)².
  EXPECT_NEAR(loss, (b.x1 - b.x0).pow(2).mean().item<double>(), 1e-5);
}

TEST(Distill, PseudoHuberFollowsItsFormulaAndDefaultsToTheICTConstant) {
  torch::manual_seed(2);
  auto field = std::make_shared<ConstFieldImpl>(torch::tensor({0.1f, 0.2f, 0.3f}));
  Batch b = random_pairs(32);
  auto per_sample = (field->c_ - (b.x1 - b.x0)).pow(2).sum(1);
  DistillConfig cfg;
  cfg.loss = "pseudo_huber";
  cfg.huber_c = 0.7;
  double got = test::method_loss(Distill(cfg, 0.0), b, *field).item<double>();
  EXPECT_NEAR(got, ((per_sample + 0.49).sqrt() - 0.7).mean().item<double>(), 1e-5);
  cfg.huber_c = 0.0;
  const double c = 0.00054 * std::sqrt(3.0);
  got = test::method_loss(Distill(cfg, 0.0), b, *field).item<double>();
  EXPECT_NEAR(got, ((per_sample + c * c).sqrt() - c).mean().item<double>(), 1e-5);
}

TEST(Distill, FeatureLossUsesTheRegisteredDistanceOnPredictedEndpoints) {
  if (!feature_distances().contains("test_l1"))
    feature_distances().add("test_l1", "sum of |a − b| (test)", [](const std::vector<int64_t>& shape) {
      EXPECT_EQ(shape, std::vector<int64_t>{3});
      return FeatureDistance([](const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().sum(1); });
    });
  torch::manual_seed(3);
  auto field = std::make_shared<ConstFieldImpl>(torch::tensor({1.0f, 0.0f, -1.0f}));
  Batch b = random_pairs(16);
  DistillConfig cfg;
  cfg.loss = "feature";
  cfg.feature = "test_l1";
  cfg.feature_weight = 2.0;
  cfg.l2_weight = 0.5;
  double got = test::method_loss(Distill(cfg, 0.0), b, *field).item<double>();
  auto pred = b.x0 + field->c_;
  double expect = 2.0 * (pred - b.x1).abs().sum(1).mean().item<double>() + 0.5 * (pred - b.x1).pow(2).mean().item<double>();
  EXPECT_NEAR(got, expect, 1e-5 * expect);
  // An unknown feature network is a config error that names what is registered.
  cfg.feature = "lpips";
  try {
    cfg.validate();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("test_l1"), std::string::npos) << e.what();
  }
}

TEST(Distill, OneStepStudentLearnsACurvedTeachersMap) {
  // Teacher map: a rotation by 90° plus a shift — far from the identity, so one step is non-trivial.
  seed_all(4);
  auto z0 = torch::randn({4000, 2});
  auto z1 = torch::stack({-z0.select(1, 1), z0.select(1, 0)}, 1) * 2 + torch::tensor({3.0f, -1.0f});
  PairSource pairs(Pairs{z0, z1, {}});
  ModelConfig mc;
  mc.get<MlpOptions>("mlp").hidden = 64;
  mc.get<MlpOptions>("mlp").depth = 2;
  auto student = make_model(mc, {2});
  Distill d(DistillConfig{}, 0.0);
  torch::optim::Adam opt(student->parameters(), torch::optim::AdamOptions(3e-3));
  for (int i = 0; i < 1200; ++i) {
    auto l = test::method_loss(d, pairs.next(256, torch::kCPU), *student);
    opt.zero_grad();
    l.backward();
    opt.step();
  }
  torch::NoGradGuard ng;
  auto test0 = torch::randn({500, 2});
  auto want = torch::stack({-test0.select(1, 1), test0.select(1, 0)}, 1) * 2 + torch::tensor({3.0f, -1.0f});
  auto got = test0 + student->forward(test0, torch::zeros({500}));
  const double err = (got - want).pow(2).sum(1).mean().item<double>();
  const double naive = (test0 - want).pow(2).sum(1).mean().item<double>();
  EXPECT_LT(err, 0.01 * naive) << "one-step error " << err << " vs identity " << naive;
}

TEST(CondDropout, DropsAboutTheAskedFractionOfLabelsAndPromptsTogetherAndNothingAtZero) {
  torch::manual_seed(5);
  Cond c;
  c.labels = torch::randint(0, 8, {20000}, torch::kInt64);
  c.context = torch::randint(4, 30, {20000, 5}, torch::kInt64);
  c.mask = torch::ones({20000, 5});
  c.extra["obs"] = torch::randn({20000, 2});
  const Cond same = drop_conditioning(c, 0.0);
  EXPECT_TRUE(torch::equal(same.labels, c.labels) && torch::equal(same.context, c.context));
  const Cond d = drop_conditioning(c, 0.1);
  const at::Tensor dropped = d.labels.eq(-1);
  EXPECT_NEAR(dropped.to(torch::kFloat64).mean().item<double>(), 0.1, 0.01);
  EXPECT_TRUE(torch::equal(d.labels.masked_select(~dropped), c.labels.masked_select(~dropped)));
  // The same rows lose their prompt (all pad, empty mask); the others keep it; extras stay.
  EXPECT_TRUE(torch::equal(d.mask.sum(1).eq(0), dropped));
  EXPECT_TRUE(torch::equal(d.context.eq(0).all(1), dropped));
  EXPECT_TRUE(torch::equal(d.context.index_select(0, (~dropped).nonzero().squeeze(1)),
                           c.context.index_select(0, (~dropped).nonzero().squeeze(1))));
  EXPECT_TRUE(torch::equal(d.extra.at("obs"), c.extra.at("obs")));
  // Nothing to drop (observations only): unchanged.
  Cond obs;
  obs.extra["obs"] = torch::randn({10, 2});
  EXPECT_TRUE(torch::equal(drop_conditioning(obs, 0.5).extra.at("obs"), obs.extra.at("obs")));
}

TEST(MethodConfigTest, DistillNeedsTheLinearPath) {
  MethodConfig mc;
  mc.name = "distill";
  mc.path = "cosine";
  EXPECT_THROW(make_method(mc), Error);
  mc.path = "linear";
  EXPECT_NO_THROW(make_method(mc));
  mc.label_dropout = 1.0;
  EXPECT_THROW(mc.validate(), Error);
}
