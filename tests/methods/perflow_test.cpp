// PeRFlow: every time lies in exactly one window and K (or 2K) uniform steps land on every window
// end; the teacher's solve inside windows of different lengths per sample is the ODE's solution;
// the loss is zero for a student that already is the straight segments (a straight teacher); and
// on 8 gaussians a K = 4 student at 4 Euler steps matches its teacher at 32+ and beats it at 4.
#include "rflow/methods/perflow.h"

#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/rng.h"
#include "rflow/data/batch_source.h"
#include "rflow/eval/distances.h"
#include "rflow/flow/path.h"
#include "rflow/flow/scheduler.h"
#include "rflow/nn/mlp.h"
#include "rflow/nn/model_config.h"
#include "rflow/solve/solver.h"
#include "rflow/train/trainer.h"
#include "tests/test_util.h"

using namespace rflow;

TEST(PerFlow, EveryTimeIsInOneWindowAndKStepsLandOnEveryWindowEnd) {
  for (int64_t K : {1, 2, 4, 7}) {
    const auto t = torch::linspace(0, 1, 1001, torch::kFloat64);
    const auto k = perflow_window(t, K);
    for (int64_t i = 0; i < t.size(0); ++i) {
      const double ti = t[i].item<double>();
      const int64_t ki = k[i].item<int64_t>();
      ASSERT_GE(ki, 0);
      ASSERT_LT(ki, K);
      EXPECT_LE(double(ki) / K, ti + 1e-12) << K << " " << ti;
      if (ti < 1) EXPECT_LT(ti, double(ki + 1) / K + 1e-12) << K << " " << ti;
    }
    // Window starts belong to their window; t = 1 to the last.
    for (int64_t j = 0; j < K; ++j)
      EXPECT_EQ(perflow_window(torch::tensor({double(j) / K}), K).item<int64_t>(), j);
    EXPECT_EQ(perflow_window(torch::tensor({1.0}), K).item<int64_t>(), K - 1);
    for (int64_t mult : {1, 2, 3}) {
      SolveOptions o;
      o.steps = K * mult;
      const auto grid = time_grid(o);
      for (int64_t j = 0; j <= K; ++j) EXPECT_NEAR(grid[j * mult], double(j) / K, 1e-12) << K << " x" << mult;
    }
  }
}

TEST(PerFlow, TheTeacherIsSolvedInsideEachSamplesWindow) {
  // dx/dt = −x from a to b: x(b) = x(a)·e^{−(b − a)}, whatever each sample's window.
  FieldFn decay = [](const at::Tensor& x, const at::Tensor& t) { return -x; };
  const auto za = torch::randn({4, 3}, torch::kFloat64);
  const auto a = torch::tensor({0.0, 0.25, 0.5, 0.75}, torch::kFloat64), b = a + 0.25;
  b[3] = 1.0;
  const auto exact = za * torch::exp(-(b - a)).unsqueeze(1);
  EXPECT_LT((solve_intervals(decay, za, a, b, 4, "rk4") - exact).abs().max().item<double>(), 1e-7);
  EXPECT_LT((solve_intervals(decay, za, a, b, 2000, "euler") - exact).abs().max().item<double>(), 1e-4);
  // Time-dependent: dx/dt = t gives x(b) = x(a) + (b² − a²)/2 exactly for Heun.
  FieldFn ramp = [](const at::Tensor& x, const at::Tensor& t) { return t.unsqueeze(1).expand_as(x).to(x.dtype()); };
  const auto want = za + ((b * b - a * a) / 2).unsqueeze(1);
  EXPECT_LT((solve_intervals(ramp, za, a, b, 3, "heun") - want).abs().max().item<double>(), 1e-12);
}

namespace {
// v(x, t) = c: straight everywhere, so each window's segment is the teacher itself.
struct Constant : VelocityFieldImpl {
  at::Tensor c = torch::tensor({1.5f, -0.5f});
  at::Tensor forward(const at::Tensor& x, const at::Tensor&, const Cond&) override { return c.expand_as(x); }
  std::vector<int64_t> sample_shape() const override { return {2}; }
};
}  // namespace

TEST(PerFlow, AStudentThatIsTheStraightTeacherHasZeroLoss) {
  Constant teacher, student;
  MethodConfig mc;
  mc.name = "perflow";
  auto method = make_method(mc);
  EXPECT_TRUE(method->needs_teacher());
  static const LinearPath path;
  TrainContext ctx{student, path};
  ctx.teacher = &teacher;
  Batch b{torch::randn({64, 2}), torch::randn({64, 2}) + 3, {}};
  EXPECT_LT(method->loss(b, ctx).item<double>(), 1e-10);
  TrainContext none{student, path};
  EXPECT_THROW(method->loss(b, none), Error);  // no teacher: a clear error, not a crash
}

// 8 gaussians from N(0, I): a curved 1-RF teacher; its K = 4 PeRFlow student, started from it.
TEST(PerFlow, FourWindowsInFourStepsMatchTheTeacherAtManySteps) {
  seed_all(5);
  DataConfig data;
  data.target = DistributionConfig{"8gaussians"};
  auto coupling = make_coupling(data);
  ModelConfig mc;
  test::TempDir dir;
  VelocityField teacher = make_model(mc, {2});
  TrainConfig tc;
  tc.steps = 2000, tc.batch_size = 256, tc.lr = 2e-3, tc.ckpt_every = 0, tc.log_every = 1000, tc.ema_decay = 0.99;
  {
    MethodConfig rf;
    auto m = make_method(rf);
    Trainer(tc, teacher, *m, *coupling, dir.file("teacher"), "{}", torch::kCPU).run();
  }
  teacher->eval();
  VelocityField student = clone_field(*teacher);
  {
    MethodConfig pf;
    pf.name = "perflow";
    auto m = make_method(pf);
    tc.steps = 1500, tc.lr = 5e-4, tc.warmup = 50;
    Trainer(tc, student, *m, *coupling, dir.file("student"), "{}", torch::kCPU, nullptr, teacher).run();
  }
  student->eval();
  torch::NoGradGuard ng;
  torch::manual_seed(9);
  const auto x0 = torch::randn({1500, 2});
  const auto target = coupling->target().sample(1500).x;
  auto w2 = [&](VelocityField& f, int64_t steps) {
    SolveOptions o;
    o.steps = steps;
    return eval::w2_exact(solve(*f, x0, o).x, target);
  };
  const double student4 = w2(student, 4), teacher4 = w2(teacher, 4), teacher32 = w2(teacher, 32),
               teacher100 = w2(teacher, 100);
  std::cout << "W2: PeRFlow 4 steps " << student4 << "; teacher 4 / 32 / 100 steps " << teacher4 << " / " << teacher32
            << " / " << teacher100 << "\n";
  // W2 of 1500 points has a floor of ~0.45 (the teacher at 100 steps): compare what lies above it.
  EXPECT_LT(student4 - teacher100, 0.25 * (teacher4 - teacher100));
  EXPECT_LT(student4, teacher32 + 0.02);
}

// The jump parameterisation: its coefficients reproduce a path's exact jump between two times (and
// a Euler step on the linear path, where it is the velocity form, loss for loss); a student whose
// raw output is the teacher's, sampled through the jump field in K steps, is a K-step DDIM: exact
// for data at one point, where Euler on the same field is not.
namespace {
// The exact velocity of the path towards data at one point x1: u = α'·x1 + σ'·(z − α·x1)/σ.
struct PointData : CloneableField<PointData> {
  PointData(std::shared_ptr<const Scheduler> s, at::Tensor x1) : s_(std::move(s)), x1_(std::move(x1)) {}
  void reset() override {}
  using VelocityFieldImpl::forward;
  at::Tensor forward(const at::Tensor& z, const at::Tensor& t, const Cond&) override {
    const SchedulerValues v = s_->at(t.to(torch::kFloat64).unsqueeze(1));
    const at::Tensor x1 = x1_.to(torch::kFloat64).expand_as(z);
    return (v.d_alpha * x1 + v.d_sigma * (z.to(torch::kFloat64) - v.alpha * x1) / v.sigma).to(z.scalar_type());
  }
  std::vector<int64_t> sample_shape() const override { return {2}; }
  std::shared_ptr<const Scheduler> s_;
  at::Tensor x1_;
};
}  // namespace

TEST(PerFlow, JumpCoefficientsAreThePathsExactJump) {
  const auto a = torch::tensor({0.0, 0.25, 0.5, 0.75}, torch::kFloat64), b = a + 0.25;
  const JumpCoefficients lin = jump_coefficients(*make_scheduler("linear"), a, b);
  EXPECT_TRUE(torch::allclose(lin.lambda, torch::ones_like(a)));
  EXPECT_TRUE(torch::allclose(lin.eta, b - a));
  for (const std::string spec : {"cosine", "vp"}) {
    const auto s = make_scheduler(spec);
    const JumpCoefficients j = jump_coefficients(*s, a, b);
    const auto x1 = torch::randn({4, 1}, torch::kFloat64), eps = torch::randn({4, 1}, torch::kFloat64);
    const SchedulerValues va = s->at(a.unsqueeze(1)), vb = s->at(b.unsqueeze(1));
    const auto z = va.alpha * x1 + va.sigma * eps, u = va.d_alpha * x1 + va.d_sigma * eps;
    EXPECT_TRUE(torch::allclose(j.lambda.unsqueeze(1) * z + j.eta.unsqueeze(1) * u, vb.alpha * x1 + vb.sigma * eps,
                                1e-9, 1e-9))
        << spec;
  }
}

TEST(PerFlow, OnTheLinearPathTheJumpFormIsTheVelocityForm) {
  torch::manual_seed(0);
  ModelConfig m;
  m.get<MlpOptions>("mlp").hidden = 16;
  auto teacher = make_model(m, {2}), student = make_model(m, {2});
  static const LinearPath path;
  Batch b{torch::randn({128, 2}), torch::randn({128, 2}) + 2, {}};
  auto loss_of = [&](const std::string& form) {
    MethodConfig mc;
    mc.name = "perflow";
    mc.get<PerFlowOptions>("perflow").parameterization = form;
    auto method = make_method(mc);
    TrainContext ctx{*student, path};
    ctx.teacher = teacher.get();
    torch::manual_seed(7);
    return method->loss(b, ctx).item<double>();
  };
  EXPECT_NEAR(loss_of("jump"), loss_of("velocity"), 1e-6 * loss_of("velocity"));
  MethodConfig bad;
  bad.name = "perflow";
  bad.get<PerFlowOptions>("perflow").parameterization = "epsilon";
  EXPECT_THROW(bad.validate(), Error);
  // On polynomial:2, α'(0) = 0: the field at t = 0 is 0 whatever the data, no jump can start there.
  bad.get<PerFlowOptions>("perflow").parameterization = "jump";
  bad.path = "polynomial:2";
  EXPECT_THROW(make_method(bad), Error);
}

TEST(PerFlow, TheJumpFieldSamplesAsAKStepDdim) {
  const std::shared_ptr<const Scheduler> cosine = make_scheduler("cosine");
  const auto x1 = torch::tensor({{1.5, -2.0}});
  auto teacher = std::make_shared<PointData>(cosine, x1);
  MethodConfig mc;
  mc.name = "perflow";
  mc.path = "cosine";
  mc.get<PerFlowOptions>("perflow").parameterization = "jump";
  const VelocityField jump = methods().get("perflow").sampling_field(teacher, mc);
  ASSERT_NE(jump.get(), teacher.get());
  torch::manual_seed(1);
  const auto x0 = torch::randn({16, 2});
  SolveOptions o;
  o.method = "euler";
  o.steps = 4;
  torch::NoGradGuard ng;
  const auto ddim = solve(*jump, x0, o).x, euler = solve(*teacher, x0, o).x;
  EXPECT_LT((ddim - x1).abs().max().item<double>(), 1e-5);  // each jump lands on the path
  EXPECT_GT((euler - x1).abs().max().item<double>(), 1e-2);
  // The velocity form leaves the network as it is.
  mc.get<PerFlowOptions>("perflow").parameterization = "velocity";
  EXPECT_EQ(methods().get("perflow").sampling_field(teacher, mc).get(), teacher.get());
  // The view is a field like any other: cloned deep, same outputs.
  const VelocityField copy = clone_field(*jump);
  EXPECT_TRUE(torch::allclose(copy->forward(x0, torch::full({16}, 0.3)), jump->forward(x0, torch::full({16}, 0.3))));
}
