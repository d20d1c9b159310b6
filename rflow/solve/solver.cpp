#include "rflow/solve/solver.h"

#include <cmath>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/solve/rk_fixed.h"

namespace rflow {

std::string to_string(SolveStatus s) { return s == SolveStatus::kOk ? "ok" : "budget_exhausted"; }

FieldFn bind_field(VelocityFieldImpl& field, Cond cond) {
  return [&field, cond = std::move(cond)](const at::Tensor& x, const at::Tensor& t) {
    return field.forward(x, t, cond);
  };
}

const Registry<SolverFactory>& solvers() {
  static const Registry<SolverFactory> reg = [] {
    Registry<SolverFactory> r("solver");
    r.add("euler", "explicit Euler, order 1, 1 NFE/step",
          [] { return std::make_unique<FixedStepRK>(euler_tableau()); });
    r.add("midpoint", "explicit midpoint, order 2, 2 NFE/step",
          [] { return std::make_unique<FixedStepRK>(midpoint_tableau()); });
    r.add("heun", "Heun (explicit trapezoid), order 2, 2 NFE/step",
          [] { return std::make_unique<FixedStepRK>(heun_tableau()); });
    r.add("rk4", "classic Runge-Kutta, order 4, 4 NFE/step",
          [] { return std::make_unique<FixedStepRK>(rk4_tableau()); });
    return r;
  }();
  return reg;
}

std::vector<double> time_grid(const SolveOptions& opt) {
  if (!opt.grid.empty()) {
    RF_CHECK(opt.grid.size() >= 2, "time grid needs at least 2 points", "solve.grid", "");
    bool up = opt.grid.back() > opt.grid.front();
    for (size_t i = 1; i < opt.grid.size(); ++i)
      RF_CHECK(std::isfinite(opt.grid[i]) && (up ? opt.grid[i] > opt.grid[i - 1] : opt.grid[i] < opt.grid[i - 1]),
               "time grid must be strictly monotonic and finite", "solve.grid", "");
    return opt.grid;
  }
  RF_CHECK(opt.steps >= 1, "steps must be >= 1, got " + std::to_string(opt.steps), "solve.steps", "");
  RF_CHECK(std::isfinite(opt.t0) && std::isfinite(opt.t1) && opt.t0 != opt.t1,
           "t0 and t1 must be finite and different", "solve.t0/t1", "");
  std::vector<double> g(opt.steps + 1);
  for (int64_t i = 0; i <= opt.steps; ++i) g[i] = opt.t0 + (opt.t1 - opt.t0) * double(i) / double(opt.steps);
  g.back() = opt.t1;
  return g;
}

SolveResult solve(const FieldFn& f, const at::Tensor& x0, const SolveOptions& opt) {
  RF_CHECK(x0.defined() && x0.dim() >= 1 && x0.size(0) > 0, "x0 must be a non-empty batch [B, ...]",
           "solve", "");
  return solvers().get(opt.method, "solver")()->integrate(f, x0, opt);
}

SolveResult solve(VelocityFieldImpl& field, const at::Tensor& x0, const SolveOptions& opt, const Cond& cond) {
  return solve(bind_field(field, cond), x0, opt);
}

}  // namespace rflow
