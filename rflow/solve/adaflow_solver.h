// AdaFlow's variance-adaptive Euler solver (Hu et al. 2024): each sample steps
// Δt = min(max(η/σ(x, t), 1/N), t1 − t), σ the field's own estimate of its velocity's error
// (VelocityFieldImpl::variance). Where the conditional flow is straight (σ ≈ 0) one step lands
// exactly; where it branches, up to N = opt.steps steps; η comes with the field (FieldFn::eta,
// set by wrap_field from FieldOptions). Per-sample NFE in the result.
#pragma once

#include "rflow/solve/solver.h"

namespace rflow {

class AdaFlowSolver : public Solver {
 public:
  std::string name() const override { return "adaflow"; }
  int order() const override { return 1; }
  int nfe_per_step() const override { return 0; }  // the NFE varies per sample
  SolveResult integrate(const FieldFn& f, const at::Tensor& x0, const SolveOptions& opt) const override;
  bool needs_variance() const override { return true; }
  SolveResult solve_in_field(VelocityFieldImpl& field, const at::Tensor& x0, const Cond& cond,
                             const SolveOptions& opt, const FieldOptions& fo) const override;
  // The record of a solve in which every sample reached opt.t1 after nfe [B] steps, whoever stepped.
  SolveResult result(at::Tensor x, at::Tensor nfe, const SolveOptions& opt) const;
};

}  // namespace rflow
