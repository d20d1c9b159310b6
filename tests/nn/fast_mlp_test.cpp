// The fast CPU path of MLP fields (FastMlp, and solve() taking it for small batches) against the
// LibTorch forward and the step-by-step solver, on every dense-kernel instruction set: every
// activation, labels and guidance, depths and widths that are not multiples of the vector width.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/kernels/dense_kernels.h"
#include "rflow/core/error.h"
#include "rflow/nn/fast_mlp.h"
#include "rflow/nn/mlp.h"
#include "rflow/nn/model_config.h"
#include "rflow/solve/solver.h"

using namespace rflow;

namespace {

struct IsaGuard {
  std::string before = kernels::dense_isa();
  ~IsaGuard() { kernels::use_dense_isa(before); }
};

std::shared_ptr<MlpVelocityImpl> make_mlp(const std::string& act, int64_t hidden, int64_t depth, int64_t dim,
                                          int64_t classes, const std::string& time_embed = "sinusoidal") {
  ModelConfig mc;
  mc.arch = "mlp";
  auto& o = mc.get<MlpOptions>("mlp");
  o.activation = act, o.hidden = hidden, o.depth = depth;
  mc.num_classes = classes;
  mc.time_embed = time_embed;
  auto field = std::dynamic_pointer_cast<MlpVelocityImpl>(make_model(mc, {dim}));
  field->eval();
  return field;
}

double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).abs().max() / (1.0 + b.abs().max())).item<double>();
}

// The step-by-step solve (never the fast path: a plain FieldFn).
SolveResult stepwise(MlpVelocityImpl& f, const at::Tensor& x0, const SolveOptions& opt, const Cond& c,
                     const FieldOptions& fo = {}) {
  return solve(wrap_field(f, c, fo), x0, opt);
}

}  // namespace

TEST(FastMlp, VelocityEqualsTheLibTorchForwardOnEveryInstructionSet) {
  IsaGuard guard;
  torch::manual_seed(0);
  for (const auto& isa : kernels::dense_isas()) {
    ASSERT_TRUE(kernels::use_dense_isa(isa));
    for (const std::string act : {"silu", "relu", "tanh", "gelu"})
      for (int64_t classes : {0, 10})
        for (auto [hidden, depth, dim] : {std::tuple<int64_t, int64_t, int64_t>{256, 3, 2}, {100, 1, 33}, {37, 2, 5}}) {
          auto field = make_mlp(act, hidden, depth, dim, classes, classes ? "fourier" : "sinusoidal");
          FastMlp fast(*field);
          auto ws = fast.workspace(64);
          for (int64_t B : {1, 3, 64}) {
            torch::NoGradGuard ng;
            const at::Tensor x = torch::randn({B, dim}) * 2;
            const float t = 0.37f;
            Cond c;
            if (classes) c.labels = torch::arange(B, torch::kInt64).remainder(classes + 1) - 1;  // −1 … 9
            const at::Tensor want = field->forward(x, torch::full({B}, t), c);
            at::Tensor got = torch::empty_like(x);
            fast.velocity(*ws, x.data_ptr<float>(), t, classes ? c.labels.data_ptr<int64_t>() : nullptr, B,
                          got.data_ptr<float>());
            EXPECT_LT(rel_diff(got, want), 1e-5) << isa << " " << act << " classes=" << classes << " hidden=" << hidden
                                                 << " B=" << B;
          }
        }
  }
}

TEST(FastMlp, SolveTakesTheFastPathAndEqualsTheStepwiseSolve) {
  IsaGuard guard;
  torch::manual_seed(1);
  for (const auto& isa : kernels::dense_isas()) {
    ASSERT_TRUE(kernels::use_dense_isa(isa));
    auto field = make_mlp("silu", 256, 3, 2, 8);
    FastMlp fast(*field);
    auto ws = fast.workspace(128);
    struct Case {
      std::string method;
      int64_t steps;
      double guidance;
    };
    for (const Case& k : {Case{"euler", 100, 1.0}, Case{"heun", 10, 1.5}, Case{"rk4", 5, 0.0}, Case{"midpoint", 7, 3.0}})
      for (int64_t B : {1, 5, 64}) {
        SolveOptions opt;
        opt.method = k.method, opt.steps = k.steps;
        const FieldOptions fo{k.guidance};
        const at::Tensor x0 = torch::randn({B, 2});
        Cond c;
        c.labels = torch::arange(B, torch::kInt64).remainder(9) - 1;
        const SolveResult slow = stepwise(*field, x0, opt, c, fo);
        const SolveResult quick = solve(*field, x0, opt, c, fo);
        EXPECT_LT(rel_diff(quick.x, slow.x), 1e-5) << isa << " " << k.method << " B=" << B;
        EXPECT_TRUE(torch::equal(quick.nfe, slow.nfe));
        EXPECT_EQ(quick.calls, slow.calls);
        EXPECT_EQ(quick.evaluations, slow.evaluations);
        EXPECT_EQ(quick.times, slow.times);
        EXPECT_TRUE(torch::equal(quick.t_reached, slow.t_reached));
        // solve() ran FastMlp: bit for bit what the packed network computes.
        const auto solver = solvers().get(k.method, "solver")();
        at::Tensor direct = x0.clone();
        SolvePlan plan{solver->tableau(), time_grid(opt), k.guidance};
        fast.solve(*ws, plan, direct.data_ptr<float>(), c.labels.data_ptr<int64_t>(), B, direct.data_ptr<float>());
        EXPECT_TRUE(torch::equal(direct, quick.x)) << isa << " " << k.method << " B=" << B;
      }
  }
}

TEST(FastMlp, ChangedWeightsAreRepackedAndLargeBatchesStepAsBefore) {
  torch::manual_seed(2);
  auto field = make_mlp("silu", 64, 2, 3, 0);
  SolveOptions opt;
  opt.method = "heun", opt.steps = 6;
  const at::Tensor x0 = torch::randn({16, 3});
  const at::Tensor before = solve(*field, x0, opt).x;
  {
    torch::NoGradGuard ng;
    for (auto& p : field->parameters()) p.mul_(1.1);  // an optimizer step would do the same (in place)
  }
  const at::Tensor after = solve(*field, x0, opt).x;
  EXPECT_GT((after - before).abs().max().item<double>(), 1e-3);
  EXPECT_LT(rel_diff(after, stepwise(*field, x0, opt, {}).x), 1e-5);
  // Beyond the fast batch: the step-by-step solver itself (identical results).
  const at::Tensor big = torch::randn({MlpVelocityImpl::kFastBatch + 1, 3});
  EXPECT_TRUE(torch::equal(solve(*field, big, opt).x, stepwise(*field, big, opt, {}).x));
  // Trajectories and gradients are the step-by-step solver's too.
  opt.record_trajectory = true;
  EXPECT_EQ(solve(*field, x0, opt).trajectory.size(0), 7);
}

TEST(FastMlp, RejectsLabelsTheModelDoesNotHave) {
  auto field = make_mlp("silu", 32, 2, 2, 4);
  FastMlp fast(*field);
  auto ws = fast.workspace(8);
  std::vector<float> x(4, 0.5f), v(4);
  const int64_t bad[2] = {1, 4};
  EXPECT_THROW(fast.velocity(*ws, x.data(), 0.5f, bad, 2, v.data()), Error);
  EXPECT_THROW(fast.velocity(*ws, x.data(), 0.5f, nullptr, 9, v.data()), Error);  // more rows than the workspace
}

// A policy's MLP (observations as conditioning): the fast path takes the observations once per
// solve and agrees with LibTorch, with labels-free guidance untouched.
TEST(FastMlp, PoliciesWithObservationsTakeTheFastPath) {
  IsaGuard guard;
  torch::manual_seed(6);
  ModelConfig mc;
  auto& o = mc.get<MlpOptions>("mlp");
  o.hidden = 96, o.depth = 3, o.obs_dim = 5, o.variance_hidden = 16;
  auto field = std::dynamic_pointer_cast<MlpVelocityImpl>(make_model(mc, {8}));
  field->eval();
  for (const auto& isa : kernels::dense_isas()) {
    ASSERT_TRUE(kernels::use_dense_isa(isa));
    for (int64_t B : {1, 7, 64}) {
      torch::NoGradGuard ng;
      Cond c;
      c.extra["obs"] = torch::randn({B, 5});
      const at::Tensor x0 = torch::randn({B, 8});
      FastMlp fast(*field);
      auto ws = fast.workspace(64);
      at::Tensor v = torch::empty_like(x0);
      fast.velocity(*ws, x0.data_ptr<float>(), 0.3f, nullptr, B, v.data_ptr<float>(), c.extra["obs"].data_ptr<float>());
      EXPECT_LT(rel_diff(v, field->forward(x0, torch::full({B}, 0.3f), c)), 1e-5) << isa << " B=" << B;
      SolveOptions opt;
      opt.method = "heun", opt.steps = 12;
      const at::Tensor quick = solve(*field, x0, opt, c).x;
      EXPECT_LT(rel_diff(quick, stepwise(*field, x0, opt, c).x), 1e-5) << isa << " B=" << B;
      EXPECT_THROW(fast.velocity(*ws, x0.data_ptr<float>(), 0.3f, nullptr, B, v.data_ptr<float>()), Error);
    }
  }
}

// AdaFlow's variance-adaptive Euler on the fast path: the same steps per sample and the same
// actions as the step-by-step solver, with observations, labels and guidance.
TEST(FastMlp, VarianceAdaptiveSolvesMatchTheStepwiseSolver) {
  IsaGuard guard;
  torch::manual_seed(7);
  ModelConfig mc;
  auto& o = mc.get<MlpOptions>("mlp");
  o.hidden = 64, o.depth = 2, o.obs_dim = 3, o.variance_hidden = 24;
  mc.num_classes = 4;
  auto field = std::dynamic_pointer_cast<MlpVelocityImpl>(make_model(mc, {6}));
  field->eval();
  {
    torch::NoGradGuard ng;  // spread log σ so that samples take different numbers of steps
    field->named_parameters()["var_out.bias"].fill_(-1.0);
    field->named_parameters()["var_out.weight"].mul_(8.0);
  }
  for (const auto& isa : kernels::dense_isas()) {
    ASSERT_TRUE(kernels::use_dense_isa(isa));
    for (double guidance : {1.0, 2.0})
      for (int64_t B : {1, 9})
        for (double eta : {0.3, 0.02}) {  // 0.02: most steps are the smallest, 1/steps
        torch::NoGradGuard ng;
        Cond c;
        c.extra["obs"] = torch::randn({B, 3});
        c.labels = torch::arange(B, torch::kInt64).remainder(5) - 1;
        const at::Tensor x0 = torch::randn({B, 6});
        SolveOptions opt;
        opt.method = "adaflow", opt.steps = 12;
        const FieldOptions fo{guidance, eta};
        const SolveResult slow = stepwise(*field, x0, opt, c, fo), quick = solve(*field, x0, opt, c, fo);
        EXPECT_TRUE(torch::equal(quick.nfe, slow.nfe)) << isa << " B=" << B << "\n" << quick.nfe << slow.nfe;
        EXPECT_LT(rel_diff(quick.x, slow.x), 1e-5) << isa << " B=" << B;
        EXPECT_EQ(quick.evaluations, slow.evaluations);
        EXPECT_EQ(quick.calls, slow.calls);
        if (eta > 0.1)  // the samples' own steps differ (with η 0.02 nearly all are the smallest)
          if (B > 1) EXPECT_GT(slow.nfe.max().item<int64_t>(), slow.nfe.min().item<int64_t>());
      }
  }
}
