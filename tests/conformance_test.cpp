// Conformance: every registered solver, backbone, method and data set honours its contract, the
// way torchdiffeq's tests loop over every method. A new registry entry is tested by being added.
#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/data/distribution.h"
#include "rflow/flow/path.h"
#include "rflow/methods/method_config.h"
#include "rflow/nn/ema.h"
#include "rflow/nn/mlp.h"
#include "rflow/nn/model_config.h"
#include "rflow/solve/solver.h"
#include "rflow/nn/torchscript_field.h"
#include "tests/method_util.h"
#include "tests/test_util.h"
#include "tests/torchscript_util.h"

using namespace rflow;

TEST(Conformance, EverySolverSolvesALinearOdeAndCountsItsWork) {
  // dx/dt = −x on [B, 2, 3] states: x(1) = x0 / e, whatever the sample shape.
  auto x0 = torch::randn({4, 2, 3}, torch::kFloat64);
  const auto exact = x0 * std::exp(-1.0);
  ASSERT_GE(solvers().names().size(), 7u);
  for (const auto& name : solvers().names()) {
    auto solver = solvers().get(name)();
    EXPECT_EQ(solver->name(), name);
    SolveOptions o;
    o.method = name;
    o.steps = 200;
    o.rtol = o.atol = 1e-8;
    FieldFn f = [](const at::Tensor& x, const at::Tensor& t) {
      EXPECT_EQ(t.dim(), 1);
      EXPECT_EQ(t.size(0), x.size(0));
      return -x;
    };
    // A variance estimate too, for solvers that step by one (adaflow): large, so it takes its
    // smallest steps, 1/steps.
    f.with_variance([](const at::Tensor& x, const at::Tensor&, const at::Tensor&) {
      return torch::full({x.size(0)}, 1e6, x.options());
    });
    auto r = solve(f, x0, o);
    EXPECT_EQ(r.status, SolveStatus::kOk) << name;
    EXPECT_EQ(r.x.sizes(), x0.sizes()) << name;
    // 200 steps of h = 0.005: Euler's error ≈ h/2·e⁻¹·|x0|, second order ≈ h²/6 e⁻¹|x0|.
    const double tol = solver->order() == 1 ? 4e-3 : solver->order() == 2 ? 2e-5 : 1e-6;
    EXPECT_LT((r.x - exact).abs().max().item<double>(), tol) << name;
    ASSERT_EQ(r.nfe.sizes(), (std::vector<int64_t>{4})) << name;
    EXPECT_EQ(r.evaluations, r.nfe.sum().item<int64_t>()) << name;
    if (solver->nfe_per_step() > 0) EXPECT_EQ(r.nfe[0].item<int64_t>(), 200 * solver->nfe_per_step()) << name;
    EXPECT_TRUE(torch::allclose(r.t_reached, torch::ones({4}))) << name;
  }
}

TEST(Conformance, EveryBackboneKeepsShapesClonesAndLearns) {
  test::TempDir dir;
  test::write_torchscript_field(dir.file("field.pt"));
  for (const auto& name : models().names()) {
    ModelConfig mc;
    mc.arch = name;
    const bool labels = models().get(name).labels;  // or prompts (token ids) only
    mc.num_classes = labels ? 3 : 0;
    if (name == "torchscript") {  // a network saved from TorchScript, with labels
      mc.get<TorchScriptOptions>("torchscript").path = dir.file("field.pt");
      mc.get<TorchScriptOptions>("torchscript").labels = true;
    }
    // Each backbone is built on the first sample shape it accepts: flat points or small images.
    VelocityField m;
    std::vector<int64_t> shape;
    for (std::vector<int64_t> s : {std::vector<int64_t>{2}, std::vector<int64_t>{1, 8, 8}}) {
      try {
        torch::manual_seed(0);
        m = make_model(mc, s);
        shape = s;
        break;
      } catch (const Error&) {
      }
    }
    ASSERT_TRUE(m) << name << " accepts neither [2] nor [1, 8, 8]";
    {
      // Zero-initialised output layers would make every comparison below trivially true.
      torch::NoGradGuard ng;
      for (auto& p : m->parameters()) p.add_(torch::randn_like(p) * 0.05);
    }
    EXPECT_EQ(m->sample_shape(), shape) << name;
    std::vector<int64_t> batch{3};
    batch.insert(batch.end(), shape.begin(), shape.end());
    auto x = torch::randn(batch);
    auto t = torch::rand({3});
    Cond c;
    if (labels) {
      c.labels = torch::tensor({0, 2, -1}, torch::kInt64);
    } else {
      c.context = torch::tensor({5, 6, 7, 8, 0, 0, 0, 0, 0}, torch::kInt64).view({3, 3});
      c.mask = (c.context != 0).to(torch::kFloat32);
    }
    auto v = m->forward(x, t, c);
    EXPECT_EQ(v.sizes(), x.sizes()) << name;
    // A clone is a deep copy: same outputs, separate storage, and it did not move the seeded RNG.
    torch::manual_seed(1);
    const double before = torch::rand({1}).item<double>();
    torch::manual_seed(1);
    VelocityField copy = clone_field(*m);
    EXPECT_EQ(torch::rand({1}).item<double>(), before) << name << ": cloning consumed random draws";
    EXPECT_TRUE(torch::allclose(copy->forward(x, t, c), v, 1e-6, 1e-6)) << name;
    {
      torch::NoGradGuard ng;
      for (auto& p : copy->parameters()) p.add_(1.0);
    }
    EXPECT_TRUE(torch::allclose(m->forward(x, t, c), v)) << name << ": the clone shares storage";
    // The EMA of a fresh model is the model; it is frozen.
    Ema ema(*m, 0.9);
    ASSERT_NE(ema.model(), nullptr) << name;
    EXPECT_TRUE(torch::allclose(ema.model()->forward(x, t, c), v, 1e-6, 1e-6)) << name;
    for (const auto& p : ema.model()->parameters()) EXPECT_FALSE(p.requires_grad()) << name;
    // Gradients of a flow-matching loss reach the parameters.
    auto loss = (m->forward(x, t, c) - x).pow(2).mean();
    loss.backward();
    double g = 0;
    for (const auto& p : m->parameters())
      if (p.grad().defined()) g += p.grad().abs().sum().item<double>();
    EXPECT_GT(g, 0.0) << name;
  }
}

TEST(Conformance, EveryMethodGivesAFiniteDifferentiableLoss) {
  for (const auto& name : methods().names()) {
    if (!methods().get(name).backbone.empty()) continue;  // it trains one backbone only: its own tests cover it
    MethodConfig mc;
    mc.name = name;
    auto method = make_method(mc);
    EXPECT_EQ(method->name(), name);
    ModelConfig model_cfg;
    model_cfg.get<MlpOptions>("mlp").variance_hidden = 16;  // for methods that train one (adaflow)
    torch::manual_seed(2);
    auto model = make_model(model_cfg, {2});
    auto teacher = make_model(model_cfg, {2});
    Ema ema(*model, 0.99);
    Batch b{torch::randn({64, 2}), torch::randn({64, 2}) + 3, {}};
    static const LinearPath path;
    TrainContext ctx{*model, path};
    ctx.ema = ema.model();
    ctx.teacher = teacher.get();
    auto loss = method->loss(b, ctx);
    ASSERT_EQ(loss.dim(), 0) << name;
    EXPECT_TRUE(std::isfinite(loss.item<double>())) << name;
    loss.backward();
    double g = 0;
    for (const auto& p : model->parameters())
      if (p.grad().defined()) g += p.grad().abs().sum().item<double>();
    EXPECT_GT(g, 0.0) << name;
    for (const auto& p : teacher->parameters()) EXPECT_FALSE(p.grad().defined()) << name << " trained the teacher";
  }
}

TEST(Conformance, EveryDataSetWithoutFilesDrawsItsShape) {
  for (const auto& name : distributions().names()) {
    DistributionConfig dc{name};
    std::unique_ptr<Distribution> d;
    try {
      d = make_distribution(dc, {}, "data.target");
    } catch (const Error& e) {
      // Data sets that read files must say which key to set (or which file is missing).
      EXPECT_NE(std::string(e.what()).find("path"), std::string::npos) << name << ": " << e.what();
      continue;
    }
    torch::manual_seed(3);
    auto x = d->sample(5).x;
    std::vector<int64_t> want{5};
    for (auto s : d->sample_shape()) want.push_back(s);
    EXPECT_EQ(x.sizes(), want) << name;
    EXPECT_TRUE(torch::isfinite(x).all().item<bool>()) << name;
    EXPECT_FALSE(d->describe().empty()) << name;
    if (d->num_classes() > 0) {
      const at::Tensor labels = d->sample(7).cond.labels;
      EXPECT_EQ(labels.sizes(), (std::vector<int64_t>{7})) << name;
      EXPECT_GE(labels.min().item<int64_t>(), 0) << name;
      EXPECT_LT(labels.max().item<int64_t>(), d->num_classes()) << name;
    }
  }
}
