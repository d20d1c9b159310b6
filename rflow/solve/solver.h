// The Solver contract: integrate dx/dt = v(x, t) from t0 to t1 (either direction) for a batch.
// Results carry per-sample NFE, a status instead of exceptions when a budget runs out, and an
// optional trajectory. Solvers are looked up by name (euler, midpoint, heun, rk4, ...).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json_fwd.hpp>

#include "rflow/core/registry.h"
#include "rflow/flow/velocity_field.h"
#include "rflow/solve/field_options.h"

namespace rflow {

// v(x, t) with t of shape [B]; conditioning is bound in by bind_field. Solvers that advance only
// some samples (per-sample dopri5) call it with `rows`, the indices of those samples in the original
// batch, so bound per-sample conditioning (labels) can follow; a plain (x, t) lambda converts
// implicitly and ignores rows.
class FieldFn {
 public:
  using RowsFn = std::function<at::Tensor(const at::Tensor& x, const at::Tensor& t, const at::Tensor& rows)>;
  FieldFn() = default;
  template <class F, std::enable_if_t<std::is_invocable_r_v<at::Tensor, F&, const at::Tensor&, const at::Tensor&> &&
                                          !std::is_same_v<std::decay_t<F>, FieldFn>,
                                      int> = 0>
  FieldFn(F f)  // NOLINT: implicit on purpose
      : fn_([f = std::move(f)](const at::Tensor& x, const at::Tensor& t, const at::Tensor&) mutable { return f(x, t); }) {}
  static FieldFn with_rows(RowsFn f) {
    FieldFn out;
    out.fn_ = std::move(f);
    return out;
  }
  at::Tensor operator()(const at::Tensor& x, const at::Tensor& t) const { return fn_(x, t, at::Tensor()); }
  at::Tensor operator()(const at::Tensor& x, const at::Tensor& t, const at::Tensor& rows) const { return fn_(x, t, rows); }
  explicit operator bool() const { return static_cast<bool>(fn_); }
  // The field's variance estimate σ(x, t) [B] (VelocityFieldImpl::variance) and the step scale η of
  // solvers that step by it (adaflow: Δt = η/σ); bind_field and wrap_field attach them. Undefined
  // result: the field has none.
  FieldFn& with_variance(RowsFn v) {
    var_ = std::move(v);
    return *this;
  }
  FieldFn& with_eta(double eta) {
    eta_ = eta;
    return *this;
  }
  at::Tensor variance(const at::Tensor& x, const at::Tensor& t, const at::Tensor& rows = at::Tensor()) const {
    return var_ ? var_(x, t, rows) : at::Tensor();
  }
  double eta() const { return eta_; }

 private:
  RowsFn fn_, var_;
  double eta_ = FieldOptions{}.eta;
};

FieldFn bind_field(VelocityFieldImpl& field, Cond cond = {});
// Classifier-free guidance v = v_u + w (v_c − v_u), with the conditional and unconditional halves
// evaluated in one batched call (labels −1 = unconditional). w = 1 is the plain conditional field,
// w = 0 the unconditional one; both skip the doubled batch.
FieldFn guided_field(VelocityFieldImpl& field, Cond cond, double guidance);
// The field a solver sees under these settings: guided as above, η attached for variance steps.
FieldFn wrap_field(VelocityFieldImpl& field, Cond cond, const FieldOptions& fo);

class Solver;
using SolverFactory = std::function<std::unique_ptr<Solver>()>;
// Mutable: programs and tests may register their own solvers.
Registry<SolverFactory>& solvers();

// Every solver setting, declared once: the sample, eval and reflow sections of a run config and
// the `rflow sample` / `rflow eval` flags are all generated from this visit(). What wraps the field
// (guidance, AdaFlow's η) is FieldOptions, declared beside it by those sections.
struct SolveOptions {
  std::string method = "euler";
  int64_t steps = 100;
  double t0 = 0.0, t1 = 1.0;
  std::vector<double> grid;  // explicit time points (overrides steps/t0/t1 when non-empty)
  std::string schedule = "uniform";  // time grid of fixed-step solves: uniform | shift
  double shift = 1.0;                 // SD3/Flux shift (> 1 spends more steps near the noise end)
  int64_t max_nfe = 0;       // per-sample budget, 0 = kDefaultNfeCap; when exhausted the partial state is returned
  static constexpr int64_t kDefaultNfeCap = 100000;  // adaptive solves need < 5 000 on every shipped model
  double rtol = 1e-5, atol = 1e-5;  // adaptive solvers
  bool per_sample = true;    // adaptive: each sample has its own step size (false: one shared step)
  double first_step = 0.0;   // adaptive: 0 = Hairer's heuristic
  double min_step = 1e-7;    // adaptive: steps are never smaller (taken even if the error test fails)
  double max_step = 0.0;     // adaptive: steps are never larger (0 = no limit)
  bool record_trajectory = false;
  bool enable_grad = false;  // keep the autograd graph through the solve (training through solver steps)
  // Called after each step with the share of [t0, t1] that every sample has covered (0 … 1), for
  // progress bars; not a setting (not in configs, never changes a result).
  std::function<void(double)> on_progress;

  // with_solver = false leaves out solver and steps, for sections that sweep them (eval).
  template <class V>
  void visit(V& v, bool with_solver = true) {
    if (with_solver) {
      v("solver", method, "ODE solver: " + solvers().joined() + " (rflow run --list-keys describes each)");
      v("steps", steps, "steps of a fixed-step solver (adaflow: the most steps, N_max)");
    }
    v("t0", t0, "start time (0 = noise; t0 = 1, t1 = 0 encodes data to noise)");
    v("t1", t1, "end time (1 = data)");
    v("grid", grid, "explicit time points of a fixed-step solve (overrides steps, t0, t1; empty = none)");
    v("schedule", schedule, "time grid of fixed-step solvers: uniform | shift (SD3/Flux, see shift)");
    v("shift", shift, "schedule = shift: > 1 spends more steps near the noise end (SD3 uses 3)");
    v("max_nfe", max_nfe, "per-sample velocity-evaluation budget (0 = the default cap: 100 000 for the error-controlled solvers, steps for adaflow); partial results are kept, with status");
    v("rtol", rtol, "adaptive solvers: relative tolerance");
    v("atol", atol, "adaptive solvers: absolute tolerance");
    v("per_sample", per_sample, "adaptive solvers: a step size per sample (false: one shared step, torchdiffeq-style)");
    v("first_step", first_step, "adaptive solvers: first step (0 = Hairer's heuristic)");
    v("min_step", min_step, "adaptive solvers: smallest step (taken even if the error test fails)");
    v("max_step", max_step, "adaptive solvers: largest step (0 = no limit)");
  }
  // Throws naming `where`.<key> for the first bad setting.
  void validate(const std::string& where) const;
  // The settings beyond solver, steps and tolerances that change a solve's result and differ from
  // the defaults, for the records that decide whether stored results are still valid (eval results,
  // reflow pairs). Only non-defaults are listed, so records made before a setting existed stay valid.
  nlohmann::json non_default_settings(bool adaptive) const;
};

enum class SolveStatus { kOk, kBudgetExhausted };
std::string to_string(SolveStatus s);

struct SolveResult {
  at::Tensor x;          // state at the last time reached
  at::Tensor nfe;        // [B] int64: velocity evaluations spent on each sample
  at::Tensor t_reached;  // [B] float32
  int64_t calls = 0;     // batched calls of the field
  int64_t evaluations = 0;  // velocity evaluations summed over samples (= nfe.sum())
  int64_t accepted = 0, rejected = 0;
  SolveStatus status = SolveStatus::kOk;
  at::Tensor trajectory;     // [S+1, B, ...] when recorded
  std::vector<double> times;  // the S+1 times of the trajectory / grid
};

struct ButcherTableau;

// A solver's capabilities are virtual properties, so no caller asks for its type or its name.
class Solver {
 public:
  virtual ~Solver() = default;
  virtual std::string name() const = 0;
  virtual int order() const = 0;
  // Velocity evaluations per step of a fixed-step method (0 for adaptive ones).
  virtual int nfe_per_step() const = 0;
  virtual SolveResult integrate(const FieldFn& f, const at::Tensor& x0, const SolveOptions& opt) const = 0;
  // The tableau of a fixed-step explicit Runge–Kutta method (null otherwise): what PeRFlow's
  // window solves and fields that solve themselves run.
  virtual const ButcherTableau* tableau() const { return nullptr; }
  // Steps by the field's variance estimate (VelocityFieldImpl::variance), so it needs a field that has one.
  virtual bool needs_variance() const { return false; }
  // The same solve run by the field itself (VelocityFieldImpl::fast_solve) where the solver and the
  // field both support it for these settings; an undefined x otherwise (the caller then steps).
  virtual SolveResult solve_in_field(VelocityFieldImpl& field, const at::Tensor& x0, const Cond& cond,
                                     const SolveOptions& opt, const FieldOptions& fo) const {
    return {};
  }
};

// Looks up opt.method and integrates; a model is wrapped by `fo` first (wrap_field).
SolveResult solve(const FieldFn& f, const at::Tensor& x0, const SolveOptions& opt);
SolveResult solve(VelocityFieldImpl& field, const at::Tensor& x0, const SolveOptions& opt,
                  const Cond& cond = {}, const FieldOptions& fo = {});

// The grid a fixed-step solve uses: opt.grid if given, else `steps` steps from t0 to t1, uniform or
// shifted: with σ = 1 − t (the diffusers convention), σ' = shift·σ / (1 + (shift − 1)·σ).
std::vector<double> time_grid(const SolveOptions& opt);
// Resolution-dependent shift (Flux): log-shift interpolated linearly in the token count between
// (base_tokens, base_shift) and (max_tokens, max_shift); returns exp(mu).
double resolution_shift(int64_t tokens, int64_t base_tokens = 256, int64_t max_tokens = 4096,
                        double base_shift = 0.5, double max_shift = 1.15);

}  // namespace rflow
