#include "rflow/solve/rk_fixed.h"

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

namespace {

// With gradients kept (methods that train through a few solver steps): every update out of
// place, fresh time tensors, so autograd sees no buffer reused after it was saved.
at::Tensor steps_with_grad(const ButcherTableau& tab, const FieldFn& f, at::Tensor x, const std::vector<double>& grid,
                           int64_t steps, std::vector<at::Tensor>* traj, const std::function<void(double)>& progress) {
  const int S = tab.stages();
  std::vector<at::Tensor> k(S);
  for (int64_t i = 0; i < steps; ++i) {
    const double t = grid[i], dt = grid[i + 1] - grid[i];
    for (int s = 0; s < S; ++s) {
      at::Tensor xs = x;
      for (int j = 0; j < s; ++j)
        if (tab.a[s][j] != 0.0) xs = xs + k[j] * (dt * tab.a[s][j]);
      k[s] = f(xs, torch::full({x.size(0)}, t + tab.c[s] * dt, x.options().dtype(torch::kFloat32)));
    }
    at::Tensor acc;
    for (int s = 0; s < S; ++s)
      if (tab.b[s] != 0.0) acc = acc.defined() ? acc + k[s] * tab.b[s] : k[s] * tab.b[s];
    x = x + acc * dt;
    if (traj) traj->push_back(x);
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
  if (opt.enable_grad) {
    traj.push_back(x0);
    res.x = steps_with_grad(tab_, f, x0, grid, steps, opt.record_trajectory ? &traj : nullptr, opt.on_progress);
  } else {
    res.x = steps_in_place(f, x0, grid, steps, opt.record_trajectory ? &traj : nullptr, opt.on_progress);
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

// Sampling: no autograd, stage buffers reused across steps (no per-step allocation).
at::Tensor FixedStepRK::steps_in_place(const FieldFn& f, const at::Tensor& x0, const std::vector<double>& grid,
                                       int64_t steps, std::vector<at::Tensor>* traj,
                                       const std::function<void(double)>& progress) const {
  torch::NoGradGuard no_grad;
  const int S = tab_.stages();
  const int64_t B = x0.size(0);
  at::Tensor x = x0.clone();
  at::Tensor tmp = torch::empty_like(x0), acc = torch::empty_like(x0);
  at::Tensor tvec = torch::empty({B}, x0.options().dtype(torch::kFloat32));
  std::vector<at::Tensor> k(S);
  // Stages whose row of `a` is all zero evaluate at x itself: no copy needed (Euler's only stage).
  std::vector<bool> trivial(S, true);
  int nonzero_b = 0, last_b = 0;
  for (int s = 0; s < S; ++s) {
    for (int j = 0; j < s; ++j) trivial[s] = trivial[s] && tab_.a[s][j] == 0.0;
    if (tab_.b[s] != 0.0) ++nonzero_b, last_b = s;
  }
  if (traj) traj->push_back(x.clone());
  for (int64_t i = 0; i < steps; ++i) {
    const double t = grid[i], dt = grid[i + 1] - grid[i];
    for (int s = 0; s < S; ++s) {
      tvec.fill_(t + tab_.c[s] * dt);
      if (trivial[s]) {
        k[s] = f(x, tvec);
        continue;
      }
      tmp.copy_(x);
      for (int j = 0; j < s; ++j)
        if (tab_.a[s][j] != 0.0) tmp.add_(k[j], dt * tab_.a[s][j]);
      k[s] = f(tmp, tvec);
    }
    if (nonzero_b == 1) {
      x.add_(k[last_b], dt * tab_.b[last_b]);
    } else {
      // Accumulate first: a stage output may alias x (a field that returns its input).
      acc.zero_();
      for (int s = 0; s < S; ++s)
        if (tab_.b[s] != 0.0) acc.add_(k[s], tab_.b[s]);
      x.add_(acc, dt);
    }
    if (traj) traj->push_back(x.clone());
    if (progress) progress(double(i + 1) / steps);
  }
  return x;
}

}  // namespace rflow
