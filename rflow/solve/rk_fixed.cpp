#include "rflow/solve/rk_fixed.h"

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

namespace {

// With gradients kept (methods that train through a few solver steps): every update out of
// place, fresh time tensors, so autograd sees no buffer reused after it was saved.
struct GradOps {
  const FieldFn& f;
  const RkPlan& plan;
  double t = 0, dt = 0;
  at::Tensor combine(const at::Tensor& x, const std::vector<at::Tensor>& k, const RkRow& row) const {
    at::Tensor xs = x;
    for (const RkTerm& r : row) xs = xs + k[r.stage] * (dt * r.coef);
    return xs;
  }
  at::Tensor eval(const at::Tensor& xs, int s) const {
    return f(xs, torch::full({xs.size(0)}, t + plan.c[s] * dt, xs.options().dtype(torch::kFloat32)));
  }
  at::Tensor advance(const at::Tensor& x, const std::vector<at::Tensor>& k, const RkRow& row) const {
    at::Tensor acc;
    for (const RkTerm& r : row) acc = acc.defined() ? acc + k[r.stage] * r.coef : k[r.stage] * r.coef;
    return acc.defined() ? x + acc * dt : x;
  }
};

// Sampling: no autograd, stage buffers reused across steps (no per-step allocation).
struct InPlaceOps {
  const FieldFn& f;
  const RkPlan& plan;
  at::Tensor tmp, acc, tvec;
  double t = 0, dt = 0;
  InPlaceOps(const FieldFn& field, const RkPlan& p, const at::Tensor& x)
      : f(field), plan(p), tmp(torch::empty_like(x)), acc(torch::empty_like(x)),
        tvec(torch::empty({x.size(0)}, x.options().dtype(torch::kFloat32))) {}
  at::Tensor combine(const at::Tensor& x, const std::vector<at::Tensor>& k, const RkRow& row) {
    tmp.copy_(x);
    for (const RkTerm& r : row) tmp.add_(k[r.stage], dt * r.coef);
    return tmp;
  }
  at::Tensor eval(const at::Tensor& xs, int s) {
    tvec.fill_(t + plan.c[s] * dt);
    return f(xs, tvec);
  }
  at::Tensor advance(const at::Tensor& x, const std::vector<at::Tensor>& k, const RkRow& row) {
    if (row.size() == 1) return x.add_(k[row[0].stage], dt * row[0].coef);
    // Accumulate first: a stage output may alias x (a field that returns its input).
    acc.zero_();
    for (const RkTerm& r : row) acc.add_(k[r.stage], r.coef);
    return x.add_(acc, dt);
  }
};

template <class Ops>
at::Tensor run_steps(const RkPlan& plan, Ops& ops, at::Tensor x, const std::vector<double>& grid, int64_t steps,
                     std::vector<at::Tensor>* traj, const std::function<void(double)>& progress, bool copy_states) {
  std::vector<at::Tensor> k(plan.stages());
  if (traj) traj->push_back(copy_states ? x.clone() : x);
  for (int64_t i = 0; i < steps; ++i) {
    ops.t = grid[i], ops.dt = grid[i + 1] - grid[i];
    x = rk_step(plan, ops, x, k);
    if (traj) traj->push_back(copy_states ? x.clone() : x);
    if (progress) progress(double(i + 1) / steps);
  }
  return x;
}

}  // namespace

SolveResult FixedStepRK::integrate(const FieldFn& f, const at::Tensor& x0, const SolveOptions& opt) const {
  const std::vector<double> grid = time_grid(opt);
  const int S = tab_.stages();
  int64_t steps = static_cast<int64_t>(grid.size()) - 1;
  SolveResult res;
  if (opt.max_nfe > 0 && steps * S > opt.max_nfe) {
    steps = opt.max_nfe / S;
    res.status = SolveStatus::kBudgetExhausted;
  }
  std::vector<at::Tensor> traj;
  std::vector<at::Tensor>* record = opt.record_trajectory ? &traj : nullptr;
  if (opt.enable_grad) {
    GradOps ops{f, plan_};
    res.x = run_steps(plan_, ops, x0, grid, steps, record, opt.on_progress, /*copy_states=*/false);
  } else {
    torch::NoGradGuard no_grad;
    InPlaceOps ops(f, plan_, x0);
    res.x = run_steps(plan_, ops, x0.clone(), grid, steps, record, opt.on_progress, /*copy_states=*/true);
  }
  const SolveStatus status = res.status;
  res = result(res.x, grid, steps);
  res.status = status;
  if (opt.record_trajectory) res.trajectory = torch::stack(traj);
  return res;
}

SolveResult FixedStepRK::result(at::Tensor x, const std::vector<double>& grid, int64_t steps) const {
  const int64_t S = tab_.stages(), B = x.size(0);
  SolveResult res;
  res.x = std::move(x);
  res.calls = steps * S;
  res.evaluations = res.calls * B;
  res.accepted = steps;
  res.nfe = torch::full({B}, steps * S, torch::dtype(torch::kInt64));
  res.t_reached = torch::full({B}, grid[steps], torch::dtype(torch::kFloat32));
  res.times.assign(grid.begin(), grid.begin() + steps + 1);
  return res;
}

SolveResult FixedStepRK::solve_in_field(VelocityFieldImpl& field, const at::Tensor& x0, const Cond& cond,
                                        const SolveOptions& opt, const FieldOptions& fo) const {
  const std::vector<double> grid = time_grid(opt);
  const int64_t steps = static_cast<int64_t>(grid.size()) - 1;
  if (opt.max_nfe > 0 && steps * tab_.stages() > opt.max_nfe) return {};  // a budget cut steps as usual
  FastSolve r = field.fast_solve(x0, cond, SolvePlan{&tab_, grid, fo.guidance});
  if (!r.x.defined()) return {};
  if (opt.on_progress) opt.on_progress(1.0);
  return result(std::move(r.x), grid, steps);
}

}  // namespace rflow
