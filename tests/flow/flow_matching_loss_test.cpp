// The flow-matching loss on every path against the regression written out by hand: the field
// evaluated at α x1 + σ x0 and compared with dα x1 + dσ x0, with α, σ from their closed forms.
#include "rflow/flow/flow_matching_loss.h"

#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/nn/model_config.h"

using namespace rflow;

TEST(FlowMatchingLoss, EqualsTheHandWrittenRegressionOnEachPath) {
  torch::manual_seed(0);
  auto model = make_model(ModelConfig{}, {2});
  auto x0 = torch::randn({64, 2}), x1 = torch::randn({64, 2}) * 2 + 1;
  auto t = torch::rand({64}) * 0.9 + 0.05;
  auto td = t.to(torch::kFloat64);
  const double h = M_PI / 2;
  struct Case {
    const char* path;
    at::Tensor a, s, da, ds;
  };
  const std::vector<Case> cases = {
      {"linear", td, 1 - td, torch::ones_like(td), -torch::ones_like(td)},
      {"cosine", torch::sin(h * td), torch::cos(h * td), h * torch::cos(h * td), -h * torch::sin(h * td)},
      {"polynomial:2", td * td, 1 - td * td, 2 * td, -2 * td},
  };
  for (const auto& c : cases) {
    auto col = [](const at::Tensor& v) { return v.to(torch::kFloat32).unsqueeze(1); };
    auto xt = col(c.a) * x1 + col(c.s) * x0;
    auto target = col(c.da) * x1 + col(c.ds) * x0;
    torch::NoGradGuard ng;
    const double want = (model->forward(xt, t) - target).pow(2).mean().item<double>();
    const double got = flow_matching_loss(*model, *make_path(c.path), x0, x1, t).item<double>();
    EXPECT_NEAR(got, want, 1e-5 * want) << c.path;
  }
  // The vp path is α = exp(m), σ = √(1 − α²): its target must differ from the linear one's.
  torch::NoGradGuard ng;
  EXPECT_GT(std::abs(flow_matching_loss(*model, *make_path("vp"), x0, x1, t).item<double>() -
                     flow_matching_loss(*model, *make_path("linear"), x0, x1, t).item<double>()),
            1e-3);
}
