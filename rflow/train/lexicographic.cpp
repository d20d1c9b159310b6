#include "rflow/train/lexicographic.h"

#include <cmath>

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

void LexicographicOptions::validate(const std::string& where) const {
  RF_CHECK(barrier >= 0 && barrier <= 10, "barrier must be in [0, 10]", where + ".barrier", "1 is the usual choice");
  RF_CHECK(tolerance >= 0 && tolerance < 1, "tolerance must be in [0, 1)", where + ".tolerance", "");
}

namespace {

double dot(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += (a[i].to(torch::kFloat64) * b[i].to(torch::kFloat64)).sum().item<double>();
  return s;
}

std::vector<at::Tensor> gradients(const at::Tensor& loss, const std::vector<at::Tensor>& params) {
  auto g = torch::autograd::grad({loss}, params, {}, /*retain_graph=*/false, /*create_graph=*/false, /*allow_unused=*/true);
  for (size_t i = 0; i < g.size(); ++i)
    if (!g[i].defined()) g[i] = torch::zeros_like(params[i]);
  return g;
}

}  // namespace

BarrierDirection barrier_direction(const std::vector<at::Tensor>& g1, const std::vector<at::Tensor>& g2, double alpha) {
  RF_CHECK(g1.size() == g2.size(), "the two gradients cover different parameters", "barrier_direction", "");
  const double g11 = dot(g1, g1), g12 = dot(g1, g2), g22 = dot(g2, g2);
  BarrierDirection out;
  out.lambda = g11 > 0 ? std::max(0.0, (alpha * g11 - g12) / g11) : 0.0;
  out.cosine = g11 > 0 && g22 > 0 ? g12 / std::sqrt(g11 * g22) : 0.0;
  for (size_t i = 0; i < g1.size(); ++i) out.direction.push_back(g2[i] + out.lambda * g1[i]);
  return out;
}

LexicographicStep lexicographic_step(const std::function<at::Tensor()>& primary, const std::function<at::Tensor()>& secondary,
                                     const std::vector<at::Tensor>& shared, const std::vector<at::Tensor>& own,
                                     torch::optim::Optimizer& optimizer, const LexicographicOptions& o) {
  LexicographicStep s;
  const at::Tensor l1 = primary();
  s.primary_before = l1.item<double>();
  const auto g1 = gradients(l1, shared);
  std::vector<at::Tensor> all = shared;
  all.insert(all.end(), own.begin(), own.end());
  const at::Tensor l2 = secondary();
  s.secondary = l2.item<double>();
  auto g2 = gradients(l2, all);
  const std::vector<at::Tensor> g2_shared(g2.begin(), g2.begin() + int64_t(shared.size()));
  const BarrierDirection d = barrier_direction(g1, g2_shared, o.barrier);
  s.lambda = d.lambda, s.cosine = d.cosine;
  std::vector<at::Tensor> before;
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < all.size(); ++i) {
    before.push_back(all[i].detach().clone());
    all[i].mutable_grad() = i < shared.size() ? d.direction[i] : g2[i];
  }
  optimizer.step();
  s.primary_after = primary().item<double>();
  if (s.primary_after > s.primary_before + o.tolerance * std::abs(s.primary_before)) {
    s.accepted = false;
    for (size_t i = 0; i < all.size(); ++i) all[i].copy_(before[i]);
  }
  for (auto& p : all) p.mutable_grad() = at::Tensor();
  return s;
}

}  // namespace rflow
