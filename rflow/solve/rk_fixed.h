// Fixed-step explicit Runge–Kutta on a time grid, driven by a Butcher tableau. The step loop
// reuses preallocated stage buffers and in-place updates, so the only allocations per step are
// the ones the velocity field itself makes.
#pragma once

#include "rflow/solve/butcher.h"
#include "rflow/solve/rk_stages.h"
#include "rflow/solve/solver.h"

namespace rflow {

class FixedStepRK : public Solver {
 public:
  explicit FixedStepRK(ButcherTableau tableau) : tab_(std::move(tableau)), plan_(rk_plan(tab_)) {}
  std::string name() const override { return tab_.name; }
  int order() const override { return tab_.order; }
  int nfe_per_step() const override { return tab_.stages(); }
  SolveResult integrate(const FieldFn& f, const at::Tensor& x0, const SolveOptions& opt) const override;
  const ButcherTableau* tableau() const override { return &tab_; }
  // A field that runs the whole solve itself (VelocityFieldImpl::fast_solve) where it can.
  SolveResult solve_in_field(VelocityFieldImpl& field, const at::Tensor& x0, const Cond& cond,
                             const SolveOptions& opt, const FieldOptions& fo) const override;
  // The result record of a solve that ended at x after `steps` steps of `grid`, whoever stepped.
  SolveResult result(at::Tensor x, const std::vector<double>& grid, int64_t steps) const;

 private:
  ButcherTableau tab_;
  RkPlan plan_;
};

}  // namespace rflow
