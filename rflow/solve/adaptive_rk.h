// Adaptive embedded Runge–Kutta on any FSAL pair (dopri5, bosh3, tsit5 are tables in butcher.h)
// with error control per sample: every sample has its own time and step size, finished samples
// stop costing evaluations, and a per-sample NFE budget returns the partial state (status + t
// reached) instead of throwing. The batch-shared mode (one step size for all, accepted only when
// every sample passes) is kept for comparison with torchdiffeq-style solvers.
#pragma once

#include "rflow/solve/butcher.h"
#include "rflow/solve/rk_stages.h"
#include "rflow/solve/solver.h"

namespace rflow {

class AdaptiveRK : public Solver {
 public:
  explicit AdaptiveRK(EmbeddedTableau tableau);
  std::string name() const override { return tab_.name; }
  int order() const override { return tab_.order; }
  int nfe_per_step() const override { return 0; }
  SolveResult integrate(const FieldFn& f, const at::Tensor& x0, const SolveOptions& opt) const override;

 private:
  EmbeddedTableau tab_;
  RkPlan plan_;
};

}  // namespace rflow
