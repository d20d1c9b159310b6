#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/mlp.h"
#include "rflow/nn/model_config.h"
#include "rflow/solve/solver.h"

using namespace rflow;

TEST(Guidance, ScaleZeroAndOneAreTheUnconditionalAndConditionalFields) {
  torch::manual_seed(0);
  ModelConfig mc;
  mc.num_classes = 3;
  mc.get<MlpOptions>("mlp").hidden = 32;
  auto model = make_model(mc, {2});
  torch::NoGradGuard ng;
  auto x = torch::randn({6, 2});
  auto t = torch::rand({6});
  Cond c;
  c.labels = torch::tensor({0, 1, 2, 0, 1, 2}, torch::kInt64);
  Cond u;
  u.labels = torch::full({6}, -1, torch::kInt64);
  auto vc = model->forward(x, t, c), vu = model->forward(x, t, u);
  EXPECT_TRUE(torch::allclose(guided_field(*model, c, 1.0)(x, t), vc, 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(guided_field(*model, c, 0.0)(x, t), vu, 1e-6, 1e-6));
  auto g = guided_field(*model, c, 3.0)(x, t);
  EXPECT_TRUE(torch::allclose(g, vu + 3.0 * (vc - vu), 1e-5, 1e-5));
  // Row subsets (per-sample solvers) carry their own labels.
  auto rows = torch::tensor({4, 1}, torch::kInt64);
  auto sub = guided_field(*model, c, 3.0)(x.index_select(0, rows), t.index_select(0, rows), rows);
  EXPECT_TRUE(torch::allclose(sub, g.index_select(0, rows), 1e-5, 1e-5));
  // A guided dopri5 solve equals a guided fixed-step solve at high accuracy.
  SolveOptions o;
  const FieldOptions fo{2.0};
  o.method = "dopri5";
  o.rtol = o.atol = 1e-7;
  auto a = solve(*model, x, o, c, fo);
  o.method = "rk4";
  o.steps = 200;
  auto b = solve(*model, x, o, c, fo);
  EXPECT_TRUE(torch::allclose(a.x, b.x, 1e-4, 1e-4));
}

namespace {
// v = masked mean of the context's first two features: the null context (all masked) gives 0.
class ContextFieldImpl : public VelocityFieldImpl {
 public:
  at::Tensor forward(const at::Tensor& x, const at::Tensor&, const Cond& c) override {
    if (!c.context.defined()) return torch::zeros_like(x);
    auto m = c.mask.unsqueeze(2);
    auto mean = (c.context * m).sum(1) / m.sum(1).clamp_min(1.0);
    return mean.slice(1, 0, 2);
  }
  std::vector<int64_t> sample_shape() const override { return {2}; }
};
}  // namespace

TEST(Guidance, WorksForATokenContextThroughItsNullValue) {
  ContextFieldImpl f;
  Cond c;
  c.context = torch::randn({4, 3, 5});
  c.mask = torch::tensor({{1, 1, 0}, {1, 0, 0}, {1, 1, 1}, {0, 1, 1}}, torch::kFloat32);
  auto x = torch::randn({4, 2});
  auto t = torch::rand({4});
  auto vc = f.forward(x, t, c);
  EXPECT_GT(vc.abs().sum().item<double>(), 0.0);
  // The null half is zero, so v = 0 + w (v_c − 0).
  EXPECT_TRUE(torch::allclose(guided_field(f, c, 2.5)(x, t), 2.5 * vc, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(guided_field(f, c, 0.0)(x, t), torch::zeros_like(vc)));
  // Rows of a per-sample solver keep their own context.
  auto rows = torch::tensor({2, 0}, torch::kInt64);
  auto sub = guided_field(f, c, 2.5)(x.index_select(0, rows), t.index_select(0, rows), rows);
  EXPECT_TRUE(torch::allclose(sub, 2.5 * vc.index_select(0, rows), 1e-5, 1e-5));
  // Conditioning without a null value cannot be guided.
  Cond obs;
  obs.extra["obs"] = torch::randn({4, 2});
  EXPECT_THROW(guided_field(f, obs, 2.0), Error);
  EXPECT_NO_THROW(guided_field(f, obs, 1.0));
}
