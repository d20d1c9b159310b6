// Adaptive Dormand–Prince 5(4) with error control per sample: every sample has its own time and
// step size, finished samples stop costing evaluations, and a per-sample NFE budget returns the
// partial state (status + t reached) instead of throwing. The batch-shared mode (one step size for
// all, accepted only when every sample passes) is kept for comparison with torchdiffeq-style solvers.
#pragma once

#include "rflow/solve/solver.h"

namespace rflow {

class Dopri5 : public Solver {
 public:
  std::string name() const override { return "dopri5"; }
  int order() const override { return 5; }
  int nfe_per_step() const override { return 0; }
  SolveResult integrate(const FieldFn& f, const at::Tensor& x0, const SolveOptions& opt) const override;
};

}  // namespace rflow
