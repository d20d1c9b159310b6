// Consistency-FM: zero loss on an exactly straight field whatever the phase; phase 1 is the
// segment-wise rectified flow (target = the true segment end, weighted by (s − t)²) and phase 2
// uses the target network before the boundary — the two-phase schedule is wired, unlike the
// released code; and on 8 gaussians, at equal training steps, its 2-step samples beat 1-RF's.
#include "rflow/methods/consistency_fm.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/rng.h"
#include "rflow/data/batch_source.h"
#include "rflow/eval/distances.h"
#include "rflow/flow/path.h"
#include "rflow/nn/model_config.h"
#include "rflow/solve/solver.h"
#include "rflow/train/trainer.h"
#include "tests/test_util.h"

using namespace rflow;

namespace {
struct StraightField : VelocityFieldImpl {
  at::Tensor c;
  explicit StraightField(at::Tensor v) : c(std::move(v)) {}
  at::Tensor forward(const at::Tensor& x, const at::Tensor&, const Cond&) override { return c.expand_as(x); }
  std::vector<int64_t> sample_shape() const override { return {2}; }
};

MethodConfig cfm(int64_t phase1_steps, const std::string& target = "ema") {
  MethodConfig mc;
  mc.name = "consistency_fm";
  auto& o = mc.get<ConsistencyFmOptions>("consistency_fm");
  o.phase1_steps = phase1_steps;
  o.target = target;
  o.alpha = 0.1;  // large enough that a wrong velocity term would show
  return mc;
}
}  // namespace

TEST(ConsistencyFm, ZeroOnAnExactlyStraightFieldInBothPhases) {
  const auto c = torch::tensor({2.0f, -1.0f});
  StraightField model(c), ema(c);
  static const LinearPath path;
  const auto x0 = torch::randn({256, 2});
  Batch b{x0, x0 + c, {}};  // every pair joined by the field's own straight line
  for (int64_t step : {0, 10}) {
    auto method = make_method(cfm(5));
    TrainContext ctx{model, path};
    ctx.ema = &ema;
    ctx.step = step;
    EXPECT_LT(method->loss(b, ctx).item<double>(), 1e-10) << "step " << step;
  }
}

TEST(ConsistencyFm, PhaseOneIsSegmentwiseRectifiedFlowPhaseTwoUsesTheTargetNetwork) {
  // A model v = 0 against pairs x1 = x0 + d: in phase 1 the target is x_s, so the loss is
  // E[(s − t)²]·‖d‖²/2 per dimension on average (f = x_t, x_s − x_t = (s − t)d).
  StraightField model(torch::zeros({2})), ema(torch::tensor({5.0f, 5.0f}));
  static const LinearPath path;
  torch::manual_seed(4);
  const auto x0 = torch::randn({200000, 2});
  const auto d = torch::tensor({1.0f, 3.0f});
  Batch b{x0, x0 + d, {}};
  TrainContext ctx{model, path};
  ctx.ema = &ema;
  auto method = make_method(cfm(100));
  ctx.step = 0;
  const double phase1 = method->loss(b, ctx).item<double>();
  // K = 2, Δt = 0.01: t uniform on [0, 0.99), s − t uniform on each half: E[(s − t)²] ≈ 1/12.
  EXPECT_NEAR(phase1, (1.0 / 12) * (1 + 9) / 2, 0.03);
  ctx.step = 100;  // phase 2: for r < 0.9 the target extrapolates the EMA's (wrong) velocity
  const double phase2 = method->loss(b, ctx).item<double>();
  EXPECT_GT(phase2, 2 * phase1);
  // With the model itself as target (v = 0 everywhere) phase 2's end-point target is x_r: smaller.
  auto self = make_method(cfm(100, "self"));
  EXPECT_LT(self->loss(b, ctx).item<double>(), phase1);
}

TEST(ConsistencyFm, TwoStepsBeatRectifiedFlowAtTwoStepsAtEqualTraining) {
  seed_all(3);
  DataConfig data;
  data.target = DistributionConfig{"8gaussians"};
  auto coupling = make_coupling(data);
  ModelConfig mc;
  test::TempDir dir;
  TrainConfig tc;
  tc.steps = 2000, tc.batch_size = 256, tc.lr = 2e-3, tc.ckpt_every = 0, tc.log_every = 1000, tc.ema_decay = 0.99;
  auto train = [&](const MethodConfig& m, const std::string& name) {
    seed_all(3);
    VelocityField f = make_model(mc, {2});
    auto method = make_method(m);
    Trainer(tc, f, *method, *coupling, dir.file(name), "{}", torch::kCPU).run();
    f->eval();
    return f;
  };
  VelocityField rf = train(MethodConfig{}, "rf");
  VelocityField cf = train(cfm(1000), "cfm");
  torch::NoGradGuard ng;
  torch::manual_seed(9);
  const auto x0 = torch::randn({1500, 2});
  const auto target = coupling->target().sample(1500).x;
  auto w2 = [&](VelocityField& f, int64_t steps) {
    SolveOptions o;
    o.steps = steps;
    return eval::w2_exact(solve(*f, x0, o).x, target);
  };
  const double rf2 = w2(rf, 2), cf2 = w2(cf, 2), rf100 = w2(rf, 100);
  std::cout << "W2 at 2 steps: consistency-FM " << cf2 << ", 1-RF " << rf2 << " (1-RF at 100 steps " << rf100 << ")\n";
  EXPECT_LT(cf2, rf2);
  EXPECT_LT(cf2 - rf100, 0.5 * (rf2 - rf100));
}
