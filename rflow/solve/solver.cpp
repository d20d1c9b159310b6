#include "rflow/solve/solver.h"

#include <cmath>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/solve/adaptive_rk.h"
#include "rflow/solve/rk_fixed.h"
#include "rflow/solve/adaflow_solver.h"

namespace rflow {

std::string to_string(SolveStatus s) { return s == SolveStatus::kOk ? "ok" : "budget_exhausted"; }

namespace {
// Conditioning for the rows being evaluated (all rows when `rows` is undefined).
Cond rows_of(const Cond& c, const at::Tensor& rows) { return rows.defined() ? c.select(rows) : c; }

// σ of the field under `cond` (the conditional one under guidance: AdaFlow's steps follow the
// conditional flow's straightness).
FieldFn::RowsFn variance_of(VelocityFieldImpl& field, Cond cond) {
  return [&field, cond = std::move(cond)](const at::Tensor& x, const at::Tensor& t, const at::Tensor& rows) {
    return field.variance(x, t, rows_of(cond, rows));
  };
}
}  // namespace

FieldFn bind_field(VelocityFieldImpl& field, Cond cond) {
  if (cond.empty()) {
    FieldFn out = [&field](const at::Tensor& x, const at::Tensor& t) { return field.forward(x, t, Cond{}); };
    return out.with_variance(variance_of(field, {}));
  }
  FieldFn out = FieldFn::with_rows([&field, cond](const at::Tensor& x, const at::Tensor& t, const at::Tensor& rows) {
    return field.forward(x, t, rows_of(cond, rows));
  });
  return out.with_variance(variance_of(field, std::move(cond)));
}

FieldFn guided_field(VelocityFieldImpl& field, Cond cond, double w) {
  RF_CHECK(std::isfinite(w), "guidance scale must be finite", "guidance", "typical: 1 to 7");
  if (w == 1.0 || cond.empty()) return bind_field(field, std::move(cond));
  RF_CHECK(cond.nullable(), "classifier-free guidance needs conditioning with a null value (labels or a token context)",
           "guidance", "pass labels or a context, or use guidance = 1");
  if (w == 0.0) return bind_field(field, cond.null_like());
  FieldFn::RowsFn var = variance_of(field, cond);
  FieldFn out = FieldFn::with_rows([&field, cond = std::move(cond), w](const at::Tensor& x, const at::Tensor& t, const at::Tensor& rows) {
    const int64_t B = x.size(0);
    Cond c = rows_of(cond, rows);
    c.check_batch(B, "guided_field");
    // One call on [x; x] with [cond; null]: half the dispatch overhead of two calls.
    Cond both = Cond::cat({c, c.null_like()});
    at::Tensor v = field.forward(torch::cat({x, x}), torch::cat({t, t}), both);
    at::Tensor vc = v.slice(0, 0, B), vu = v.slice(0, B);
    return vu + (vc - vu) * w;
  });
  return out.with_variance(std::move(var));
}

FieldFn wrap_field(VelocityFieldImpl& field, Cond cond, const FieldOptions& fo) {
  fo.validate("field");
  FieldFn f = guided_field(field, std::move(cond), fo.guidance);
  return f.with_eta(fo.eta);
}

Registry<SolverFactory>& solvers() {
  static Registry<SolverFactory> reg = [] {
    Registry<SolverFactory> r("solver");
    r.add("euler", "explicit Euler, order 1, 1 NFE/step",
          [] { return std::make_unique<FixedStepRK>(euler_tableau()); });
    r.add("midpoint", "explicit midpoint, order 2, 2 NFE/step",
          [] { return std::make_unique<FixedStepRK>(midpoint_tableau()); });
    r.add("heun", "Heun (explicit trapezoid), order 2, 2 NFE/step",
          [] { return std::make_unique<FixedStepRK>(heun_tableau()); });
    r.add("rk4", "classic Runge-Kutta, order 4, 4 NFE/step",
          [] { return std::make_unique<FixedStepRK>(rk4_tableau()); });
    r.add("adaflow", "AdaFlow's variance-adaptive Euler: each sample steps eta/σ by the model's variance head (1 step where the flow is straight, up to `steps`)",
          [] { return std::make_unique<AdaFlowSolver>(); });
    r.add("dopri5", "adaptive Dormand-Prince 5(4), per-sample step control (rtol/atol, max_nfe)",
          [] { return std::make_unique<AdaptiveRK>(dopri5_tableau()); });
    r.add("tsit5", "adaptive Tsitouras 5(4): dopri5's order with smaller error constants, per-sample step control",
          [] { return std::make_unique<AdaptiveRK>(tsit5_tableau()); });
    r.add("bosh3", "adaptive Bogacki-Shampine 3(2): cheap steps (3 NFE) for loose tolerances, per-sample step control",
          [] { return std::make_unique<AdaptiveRK>(bosh3_tableau()); });
    return r;
  }();
  return reg;
}

double resolution_shift(int64_t tokens, int64_t base_tokens, int64_t max_tokens, double base_shift, double max_shift) {
  RF_CHECK(max_tokens > base_tokens, "max_tokens must exceed base_tokens", "resolution_shift", "");
  double m = (max_shift - base_shift) / double(max_tokens - base_tokens);
  return std::exp(base_shift + m * double(tokens - base_tokens));
}

namespace {
// Far outside [0, 1] a float32 time embedding overflows; a typo (1e300) should say so by name.
constexpr double kMaxTime = 1000.0;

// The time settings, checked once for both validate() and time_grid(): a grid strictly monotonic
// in either direction, else steps >= 1 between two different finite end points.
void check_times(const SolveOptions& o, const std::string& where) {
  RF_CHECK(o.grid.empty() || o.grid.size() >= 2, "a grid needs at least two time points", where + ".grid",
           "e.g. [0, 0.5, 1]; leave it empty to use steps, t0 and t1");
  const bool up = !o.grid.empty() && o.grid.back() > o.grid.front();
  for (size_t i = 0; i < o.grid.size(); ++i)
    RF_CHECK(std::isfinite(o.grid[i]) && (i == 0 || (up ? o.grid[i] > o.grid[i - 1] : o.grid[i] < o.grid[i - 1])),
             "grid points must be finite and strictly monotonic", where + ".grid", "e.g. [0, 0.25, 1] or [1, 0]");
  for (double t : o.grid)
    RF_CHECK(std::abs(t) <= kMaxTime, "grid point " + std::to_string(t) + " is out of range", where + ".grid",
             "the flow runs from t = 0 (noise) to t = 1 (data)");
  // Each step keeps a state and a time: a billion steps is an allocation failure, not a solve.
  RF_CHECK(o.steps >= 1 && o.steps <= 1000000, "steps must be in [1, 1000000], got " + std::to_string(o.steps),
           where + ".steps", "a few (1-100) for straight flows");
  RF_CHECK(std::isfinite(o.t0) && std::isfinite(o.t1) && o.t0 != o.t1, "t0 and t1 must be finite and different",
           where + ".t0/t1", "");
  RF_CHECK(std::abs(o.t0) <= kMaxTime && std::abs(o.t1) <= kMaxTime, "t0 and t1 must be in [-1000, 1000]",
           where + ".t0/t1", "the flow runs from t = 0 (noise) to t = 1 (data)");
  RF_CHECK(o.schedule == "uniform" || o.schedule == "shift", "unknown time schedule '" + o.schedule + "'",
           where + ".schedule", "use uniform or shift");
  RF_CHECK(std::isfinite(o.shift) && o.shift > 0, "shift must be > 0", where + ".shift", "SD3 uses 3.0");
}
}  // namespace

std::vector<double> time_grid(const SolveOptions& opt) {
  check_times(opt, "solve");
  if (!opt.grid.empty()) return opt.grid;
  std::vector<double> g(opt.steps + 1);
  for (int64_t i = 0; i <= opt.steps; ++i) {
    double u = double(i) / double(opt.steps);
    if (opt.schedule == "shift") {
      // Shift on the fraction of the interval travelled, in σ = 1 − u.
      double sigma = 1.0 - u;
      u = 1.0 - opt.shift * sigma / (1.0 + (opt.shift - 1.0) * sigma);
    }
    g[i] = opt.t0 + (opt.t1 - opt.t0) * u;
  }
  g.front() = opt.t0;
  g.back() = opt.t1;
  return g;
}

void SolveOptions::validate(const std::string& where) const {
  solvers().get(method, where + ".solver");
  check_times(*this, where);
  RF_CHECK(max_nfe >= 0, "max_nfe must be >= 0", where + ".max_nfe", "0 = the default cap (100 000 for adaptive solvers)");
  RF_CHECK(rtol > 0 && atol > 0 && std::isfinite(rtol) && std::isfinite(atol), "rtol and atol must be > 0",
           where + ".rtol/atol", "typical: 1e-5");
  RF_CHECK(first_step >= 0 && min_step > 0 && max_step >= 0 && std::isfinite(first_step) && std::isfinite(min_step) &&
               std::isfinite(max_step),
           "step limits must be finite and >= 0 (min_step > 0)", where + ".first_step/min_step/max_step", "");
  RF_CHECK(min_step >= 1e-12 && (max_step == 0 || max_step >= min_step),
           "min_step must be >= 1e-12 and max_step (if set) >= min_step", where + ".min_step/max_step",
           "steps below 1e-12 of the time span cannot change a float32 state; defaults: min_step 1e-7, max_step 0 (none)");
}

nlohmann::json SolveOptions::non_default_settings(bool adaptive) const {
  const SolveOptions d;
  nlohmann::json out = nlohmann::json::object();
  if (schedule != d.schedule || shift != d.shift) out["schedule"] = {schedule, shift};
  if (t0 != d.t0 || t1 != d.t1 || !grid.empty()) out["times"] = {t0, t1, grid};
  if (max_nfe != d.max_nfe) out["max_nfe"] = max_nfe;
  if (adaptive && (first_step != d.first_step || min_step != d.min_step || max_step != d.max_step ||
                   per_sample != d.per_sample))
    out["adaptive"] = {first_step, min_step, max_step, per_sample};
  return out;
}

SolveResult solve(const FieldFn& f, const at::Tensor& x0, const SolveOptions& opt) {
  RF_CHECK(x0.defined() && x0.dim() >= 1 && x0.size(0) > 0, "x0 must be a non-empty batch [B, ...]",
           "solve", "");
  return solvers().get(opt.method, "solver")()->integrate(f, x0, opt);
}

SolveResult solve(VelocityFieldImpl& field, const at::Tensor& x0, const SolveOptions& opt, const Cond& cond,
                  const FieldOptions& fo) {
  RF_CHECK(x0.defined() && x0.dim() >= 1 && x0.size(0) > 0, "x0 must be a non-empty batch [B, ...]",
           "solve", "");
  const std::unique_ptr<Solver> solver = solvers().get(opt.method, "solver")();
  // A solve the field can run itself (small CPU batches of MLPs): the same result without
  // LibTorch's per-op overhead. Anything it does not cover steps as usual.
  fo.validate("solve");
  if (!opt.enable_grad && !opt.record_trajectory) {
    SolveResult r = solver->solve_in_field(field, x0, cond, opt, fo);
    if (r.x.defined()) return r;
  }
  return solver->integrate(wrap_field(field, cond, fo), x0, opt);
}

}  // namespace rflow
