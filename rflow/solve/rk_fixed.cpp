#include "rflow/solve/rk_fixed.h"

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

SolveResult FixedStepRK::integrate(const FieldFn& f, const at::Tensor& x0, const SolveOptions& opt) const {
  const std::vector<double> grid = time_grid(opt);
  const int S = tab_.stages();
  const int64_t B = x0.size(0);
  int64_t steps = static_cast<int64_t>(grid.size()) - 1;
  SolveResult res;
  if (opt.max_nfe > 0 && steps * S > opt.max_nfe) {
    steps = opt.max_nfe / S;
    res.status = SolveStatus::kBudgetExhausted;
  }

  torch::NoGradGuard no_grad;
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

  std::vector<at::Tensor> traj;
  if (opt.record_trajectory) traj.push_back(x.clone());

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
    if (opt.record_trajectory) traj.push_back(x.clone());
  }

  res.x = x;
  res.calls = steps * S;
  res.evaluations = res.calls * B;
  res.accepted = steps;
  res.nfe = torch::full({B}, steps * S, torch::dtype(torch::kInt64));
  res.t_reached = torch::full({B}, grid[steps], torch::dtype(torch::kFloat32));
  res.times.assign(grid.begin(), grid.begin() + steps + 1);
  if (opt.record_trajectory) res.trajectory = torch::stack(traj);
  return res;
}

}  // namespace rflow
