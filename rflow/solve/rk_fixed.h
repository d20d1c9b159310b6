// Fixed-step explicit Runge–Kutta on a time grid, driven by a Butcher tableau. The step loop
// reuses preallocated stage buffers and in-place updates, so the only allocations per step are
// the ones the velocity field itself makes.
#pragma once

#include "rflow/solve/butcher.h"
#include "rflow/solve/solver.h"

namespace rflow {

class FixedStepRK : public Solver {
 public:
  explicit FixedStepRK(ButcherTableau tableau) : tab_(std::move(tableau)) {}
  std::string name() const override { return tab_.name; }
  int order() const override { return tab_.order; }
  int nfe_per_step() const override { return tab_.stages(); }
  SolveResult integrate(const FieldFn& f, const at::Tensor& x0, const SolveOptions& opt) const override;
  const ButcherTableau& tableau() const { return tab_; }
  // The result record of a solve that ended at x after `steps` steps of `grid`, whoever stepped.
  SolveResult result(at::Tensor x, const std::vector<double>& grid, int64_t steps) const;

 private:
  at::Tensor steps_in_place(const FieldFn& f, const at::Tensor& x0, const std::vector<double>& grid, int64_t steps,
                            std::vector<at::Tensor>* traj, const std::function<void(double)>& progress) const;
  ButcherTableau tab_;
};

}  // namespace rflow
