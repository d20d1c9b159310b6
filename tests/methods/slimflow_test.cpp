// SlimFlow: β falls from 1 to 0 as configured; the blend keeps unit variance and its endpoints are
// the fresh noise and the pair's own z0, so annealing reflow starts as rectified flow on random
// pairs and ends as plain reflow (the same loss, draw for draw); flow-guided distillation is zero
// for a straight student and teacher, and reads its teacher only in that phase.
#include "rflow/methods/slimflow.h"

#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/flow/path.h"
#include "rflow/nn/model_config.h"

using namespace rflow;

namespace {
MethodConfig slim(const std::string& phase, int64_t anneal_steps = 100) {
  MethodConfig mc;
  mc.name = "slimflow";
  auto& o = mc.get<SlimFlowOptions>("slimflow");
  o.phase = phase;
  o.anneal_steps = anneal_steps;
  return mc;
}
struct ShiftField : VelocityFieldImpl {
  at::Tensor c = torch::tensor({0.5f, -2.0f});
  at::Tensor forward(const at::Tensor& x, const at::Tensor&, const Cond&) override { return c.expand_as(x); }
  std::vector<int64_t> sample_shape() const override { return {2}; }
};
}  // namespace

TEST(SlimFlow, BetaFallsFromOneToZeroAndTheBlendKeepsUnitVariance) {
  for (const std::string sched : {"linear", "cosine"}) {
    EXPECT_DOUBLE_EQ(slimflow_beta(0, 100, sched), 1.0) << sched;
    EXPECT_DOUBLE_EQ(slimflow_beta(100, 100, sched), 0.0) << sched;
    EXPECT_DOUBLE_EQ(slimflow_beta(5000, 100, sched), 0.0) << sched;
    EXPECT_NEAR(slimflow_beta(50, 100, sched), 0.5, 1e-12) << sched;
    for (int64_t s = 1; s <= 100; ++s) EXPECT_LE(slimflow_beta(s, 100, sched), slimflow_beta(s - 1, 100, sched));
  }
  EXPECT_DOUBLE_EQ(slimflow_beta(0, 0, "linear"), 0.0);  // no annealing: plain reflow from the start
  torch::manual_seed(0);
  const auto z0 = torch::randn({200000, 2}), eps = torch::randn({200000, 2});
  EXPECT_TRUE(anneal_source(z0, 0.0, eps).equal(z0));
  EXPECT_TRUE(anneal_source(z0, 1.0, eps).equal(eps));
  EXPECT_NEAR(anneal_source(z0, 0.6, eps).var().item<double>(), 1.0, 0.01);
}

TEST(SlimFlow, AnnealingStartsAsRectifiedFlowOnFreshNoiseAndEndsAsReflow) {
  torch::manual_seed(1);
  ModelConfig mc;
  auto model = make_model(mc, {2});
  static const LinearPath path;
  const auto x0 = torch::randn({64, 2}), x1 = torch::randn({64, 2}) * 0.3 + 2;
  Batch batch{x0, x1, {}};
  auto rf = make_method(MethodConfig{});
  TrainContext ctx{*model, path};
  // β = 0 (after annealing, or anneal_steps = 0): the reflow loss itself, draw for draw.
  for (const auto& [steps, at_step] : std::vector<std::pair<int64_t, int64_t>>{{0, 0}, {100, 100}}) {
    auto m = make_method(slim("reflow", steps));
    ctx.step = at_step;
    torch::manual_seed(7);
    const double got = m->loss(batch, ctx).item<double>();
    torch::manual_seed(7);
    EXPECT_DOUBLE_EQ(got, rf->loss(batch, ctx).item<double>()) << steps;
  }
  // β = 1 at the first step: rectified flow with the pair's z0 replaced by fresh noise.
  auto m = make_method(slim("reflow", 100));
  ctx.step = 0;
  torch::manual_seed(7);
  const double got = m->loss(batch, ctx).item<double>();
  torch::manual_seed(7);
  const auto fresh = torch::randn_like(x0);
  Batch random_pairs{fresh, x1, {}};
  EXPECT_DOUBLE_EQ(got, rf->loss(random_pairs, ctx).item<double>());
  EXPECT_FALSE(m->needs_teacher());
}

TEST(SlimFlow, GuidedDistillationIsZeroForAStraightStudentAndTeacher) {
  ShiftField student, teacher;
  static const LinearPath path;
  const auto x0 = torch::randn({128, 2});
  Batch batch{x0, x0 + student.c, {}};
  auto m = make_method(slim("distill"));
  EXPECT_TRUE(m->needs_teacher());
  TrainContext ctx{student, path};
  ctx.teacher = &teacher;
  EXPECT_LT(m->loss(batch, ctx).item<double>(), 1e-10);
  // A teacher that disagrees with the student's line makes the guidance term count.
  struct Other : ShiftField {
    Other() { c = torch::tensor({-1.0f, 1.0f}); }
  } other;
  ctx.teacher = &other;
  EXPECT_GT(m->loss(batch, ctx).item<double>(), 0.1);
  TrainContext none{student, path};
  EXPECT_THROW(m->loss(batch, none), Error);
}
