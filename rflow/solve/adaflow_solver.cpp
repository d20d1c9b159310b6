#include "rflow/solve/adaflow_solver.h"

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

SolveResult AdaFlowSolver::integrate(const FieldFn& f, const at::Tensor& x0, const SolveOptions& opt) const {
  RF_CHECK(opt.grid.empty() && opt.schedule == "uniform", "adaflow chooses its own steps", "solver = adaflow",
           "leave grid empty and schedule = uniform; steps sets the most steps");
  RF_CHECK(opt.t1 > opt.t0, "adaflow integrates forward in time (t0 < t1)", "solver = adaflow", "");
  RF_CHECK(opt.steps >= 1, "steps (the most steps per sample) must be >= 1", "solver = adaflow", "");
  RF_CHECK(std::isfinite(f.eta()) && f.eta() > 0, "eta must be > 0", "solver = adaflow", "AdaFlow uses 0.1 to 0.5");
  torch::NoGradGuard no_grad;
  const int64_t B = x0.size(0);
  const double span = opt.t1 - opt.t0;
  const double min_dt = span / static_cast<double>(opt.steps);
  const int64_t budget = opt.max_nfe > 0 ? opt.max_nfe : opt.steps;
  at::Tensor x = x0.clone();
  auto f32 = x0.options().dtype(torch::kFloat32);
  at::Tensor t = torch::full({B}, opt.t0, torch::TensorOptions().dtype(torch::kFloat64).device(x0.device()));
  at::Tensor nfe = torch::zeros({B}, torch::TensorOptions().dtype(torch::kInt64).device(x0.device()));
  SolveResult res;
  // A sample is done when it reaches t1 (within float rounding of the sum of its steps).
  auto active_rows = [&] { return ((t < opt.t1 - 1e-9 * span) & (nfe < budget)).nonzero().squeeze(1); };
  for (at::Tensor rows = active_rows(); rows.numel() > 0; rows = active_rows()) {
    const bool all = rows.numel() == B;
    const at::Tensor xs = all ? x : x.index_select(0, rows);
    const at::Tensor ts = all ? t : t.index_select(0, rows);
    const at::Tensor tf = ts.to(f32.dtype());
    const at::Tensor rows_arg = all ? at::Tensor() : rows;
    at::Tensor sigma = f.variance(xs, tf, rows_arg);
    RF_CHECK(sigma.defined(), "the adaflow solver needs a model with a variance head", "solver = adaflow",
             "train one with model.<arch>.variance_hidden > 0 (mlp, temporal_unet) and method.name = adaflow");
    const at::Tensor v = f(xs, tf, rows_arg);
    // Δt = min(max(η/σ, span/N), t1 − t), in double so that the steps sum to t1 exactly.
    at::Tensor dt = (f.eta() * span / sigma.to(torch::kFloat64).clamp_min(1e-12)).clamp_min(min_dt);
    dt = torch::minimum(dt, opt.t1 - ts);
    std::vector<int64_t> shape(x0.dim(), 1);
    shape[0] = -1;
    const at::Tensor stepped = xs + v * dt.to(f32.dtype()).view(shape);
    if (all) {
      x = stepped;
      t = ts + dt;
      nfe += 1;
    } else {
      x.index_copy_(0, rows, stepped);
      t.index_copy_(0, rows, ts + dt);
      nfe.index_add_(0, rows, torch::ones_like(rows));
    }
    res.calls += 1;
    res.evaluations += rows.numel();
    res.accepted += rows.numel();
    if (opt.on_progress) opt.on_progress(std::clamp(((t.min().item<double>() - opt.t0) / span), 0.0, 1.0));
  }
  res.x = x;
  res.nfe = nfe;
  res.t_reached = t.to(torch::kFloat32);
  res.status = (t < opt.t1 - 1e-9 * span).any().item<bool>() ? SolveStatus::kBudgetExhausted : SolveStatus::kOk;
  res.times = {opt.t0, opt.t1};
  return res;
}

SolveResult AdaFlowSolver::result(at::Tensor x, at::Tensor nfe, const SolveOptions& opt) const {
  SolveResult res;
  res.calls = nfe.max().item<int64_t>();  // the step-by-step solver's batched calls: the longest sample's steps
  res.evaluations = res.accepted = nfe.sum().item<int64_t>();
  res.t_reached = torch::full({x.size(0)}, opt.t1, torch::kFloat32);
  res.x = std::move(x);
  res.nfe = std::move(nfe);
  res.times = {opt.t0, opt.t1};
  return res;
}

SolveResult AdaFlowSolver::solve_in_field(VelocityFieldImpl& field, const at::Tensor& x0, const Cond& cond,
                                          const SolveOptions& opt, const FieldOptions& fo) const {
  // Within the step budget the samples all reach t1; a smaller budget steps as usual.
  if (!opt.grid.empty() || opt.schedule != "uniform" || !(opt.t1 > opt.t0) || opt.steps < 1 ||
      (opt.max_nfe > 0 && opt.max_nfe < opt.steps) || !std::isfinite(fo.eta) || fo.eta <= 0)
    return {};
  FastSolve r = field.fast_solve(x0, cond, SolvePlan{nullptr, time_grid(opt), fo.guidance, fo.eta});
  if (!r.x.defined()) return {};
  if (opt.on_progress) opt.on_progress(1.0);
  return result(std::move(r.x), std::move(r.nfe), opt);
}

}  // namespace rflow
