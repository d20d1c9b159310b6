// Re-timing a velocity field trained on the linear path to another affine scheduler: the same
// coupling (hence the same noise → data map) integrated along X_r = α_r·X1 + σ_r·X0 instead of
// X_t = t·X1 + (1 − t)·X0. This is the scheduler change of Meta's flow_matching guide written in
// our t = 0 noise convention; it lets a sampler pick a time parametrisation after training.
#pragma once

#include <memory>

#include "rflow/flow/scheduler.h"
#include "rflow/solve/solver.h"

namespace rflow {

// With α_r, σ_r from `target`, s(r) = α_r + σ_r and t(r) = α_r / s(r), the target path is
// x_r = s·x_lin(t(r)), so
//   v_r(x, r) = (ṡ/s)·x + s·ṫ·v_lin(x/s, t(r)),  ṡ = α̇ + σ̇,  ṫ = (α̇ σ − α σ̇)/s².
// Solving it from r = 0 to 1 reaches the linear field's endpoint because s = 1 there, up to each
// scheduler's endpoint accuracy: vp has α_0 ≈ 6.6e-3, i.e. r = 0 is the linear path at
// t ≈ 6.5e-3 scaled by 1.0066, so a vp solve that starts from pure noise lands O(α_0) (about 1e-2)
// away from the linear one unless its start is mapped (x_r(0) = s(0)·x_lin(t(0))).
// vp's σ̇ is −∞ at r = 1 (σ ≈ sqrt(β_min (1 − r))). Where the target's values are not finite the
// field uses them at r clamped into [kRetimeTimeEps, 1 − kRetimeTimeEps]: for the independent
// coupling the velocity has a finite limit there and this is accurate; for a coupling whose
// E[X0 | X1] ≠ 0 (reflow pairs) the re-timed vp field is genuinely singular at r = 1, so stop
// short of 1 or use a grid that is refined towards it.
// The linear field receives t(r) in r's dtype (float32 from the solvers), computed in float64, and
// the solver's per-sample `rows` unchanged.
inline constexpr double kRetimeTimeEps = 1e-5;

FieldFn retime_field(FieldFn linear_field, std::shared_ptr<const Scheduler> target);

}  // namespace rflow
