#include "rflow/solve/likelihood.h"

#include <cmath>

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

void LikelihoodOptions::validate(const std::string& where) const {
  RF_CHECK(divergence == "exact" || divergence == "hutchinson", "unknown divergence '" + divergence + "'",
           where + ".divergence", "use exact or hutchinson");
  RF_CHECK(probe == "rademacher" || probe == "gaussian", "unknown probe '" + probe + "'", where + ".probe",
           "use rademacher or gaussian");
  RF_CHECK(probes >= 1, "probes must be >= 1", where + ".probes", "");
}

at::Tensor divergence(const FieldFn& f, const at::Tensor& x, const at::Tensor& t, const at::Tensor& rows,
                      const at::Tensor& probes) {
  torch::AutoGradMode grad(true);
  at::Tensor xr = x.detach().requires_grad_(true);
  at::Tensor v = f(xr, t, rows).flatten(1);
  const int64_t B = x.size(0), D = v.size(1);
  at::Tensor div = torch::zeros({B}, x.options());
  if (!probes.defined()) {
    // One vector-Jacobian product per dimension: exact, affordable for small D.
    for (int64_t i = 0; i < D; ++i) {
      auto g = torch::autograd::grad({v.select(1, i).sum()}, {xr}, {}, /*retain_graph=*/i + 1 < D)[0];
      div = div + g.flatten(1).select(1, i);
    }
    return div.detach();
  }
  const int64_t K = probes.size(2);
  for (int64_t k = 0; k < K; ++k) {
    at::Tensor e = probes.select(2, k);
    auto g = torch::autograd::grad({(v * e).sum()}, {xr}, {}, /*retain_graph=*/k + 1 < K)[0];
    div = div + (g.flatten(1) * e).sum(1);
  }
  return (div / double(K)).detach();
}

namespace {

// Integrates [x, ℓ] from opt.t0 to opt.t1; returns the end state and ℓ = ∫ div v dt over that interval.
std::pair<at::Tensor, at::Tensor> integrate_augmented(const FieldFn& f, const at::Tensor& x_start, const SolveOptions& opt,
                                                      const LikelihoodOptions& lo, SolveResult& out) {
  lo.validate();
  const int64_t B = x_start.size(0);
  const std::vector<int64_t> shape(x_start.sizes().begin(), x_start.sizes().end());
  const int64_t D = x_start[0].numel();
  at::Tensor probes;
  if (lo.divergence == "hutchinson") {
    const auto gen = lo.generator.defined() ? c10::optional<at::Generator>(lo.generator) : c10::nullopt;
    probes = lo.probe == "gaussian" ? torch::randn({B, D, lo.probes}, gen, x_start.options())
                                    : torch::randint(0, 2, {B, D, lo.probes}, gen, x_start.options()) * 2 - 1;
  }
  FieldFn aug = FieldFn::with_rows([&](const at::Tensor& s, const at::Tensor& t, const at::Tensor& rows) {
    std::vector<int64_t> sh = shape;
    sh[0] = s.size(0);
    at::Tensor x = s.slice(1, 0, D).reshape(sh);
    at::Tensor pr = probes.defined() && rows.defined() ? probes.index_select(0, rows) : probes;
    at::Tensor v;
    at::Tensor div;
    {
      torch::AutoGradMode grad(true);
      at::Tensor xr = x.detach().requires_grad_(true);
      // Evaluate once and reuse the graph for the divergence.
      FieldFn once = [&](const at::Tensor& xx, const at::Tensor& tt) {
        v = f(xx, tt, rows);
        return v;
      };
      div = divergence(once, xr, t, at::Tensor(), pr);
    }
    return torch::cat({v.detach().flatten(1), div.unsqueeze(1)}, 1);
  });
  at::Tensor s0 = torch::cat({x_start.flatten(1), torch::zeros({B, 1}, x_start.options())}, 1);
  out = solve(aug, s0, opt);
  std::vector<int64_t> sh = shape;
  at::Tensor x_end = out.x.slice(1, 0, D).reshape(sh);
  at::Tensor ell = out.x.select(1, D).to(torch::kFloat64);
  out.x = x_end;
  return {x_end, ell};
}

}  // namespace

LikelihoodResult sample_with_log_prob(const FieldFn& f, const at::Tensor& x0, const SolveOptions& opt,
                                      const LikelihoodOptions& lo, const LogProbFn& source_log_prob) {
  LikelihoodResult r;
  auto [x1, ell] = integrate_augmented(f, x0, opt, lo, r.solve);
  r.x = x1;
  r.log_p0 = source_log_prob(x0).to(torch::kFloat64).cpu();
  r.div_integral = ell.cpu();
  r.log_p = r.log_p0 - r.div_integral;
  return r;
}

LikelihoodResult log_prob(const FieldFn& f, const at::Tensor& x1, const SolveOptions& opt, const LikelihoodOptions& lo,
                          const LogProbFn& source_log_prob) {
  SolveOptions back = opt;
  back.t0 = opt.t1 > opt.t0 ? opt.t1 : opt.t0;
  back.t1 = opt.t1 > opt.t0 ? opt.t0 : opt.t1;
  if (!back.grid.empty() && back.grid.front() < back.grid.back()) std::reverse(back.grid.begin(), back.grid.end());
  LikelihoodResult r;
  auto [x0, ell] = integrate_augmented(f, x1, back, lo, r.solve);
  r.x = x0;
  r.log_p0 = source_log_prob(x0).to(torch::kFloat64).cpu();
  // ℓ = ∫_1^0 div dt = −∫_0^1 div dt.
  r.div_integral = -ell.cpu();
  r.log_p = r.log_p0 - r.div_integral;
  return r;
}

at::Tensor bits_per_dim(const at::Tensor& log_p, int64_t dims) {
  RF_CHECK(dims > 0, "dims must be > 0", "bits_per_dim", "");
  return -log_p / (double(dims) * std::log(2.0));
}

}  // namespace rflow
