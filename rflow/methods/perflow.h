// PeRFlow, piecewise rectified flow (Yan et al. 2024; docs/methods.md), in rflow's time (t = 0
// noise, t = 1 data): [0, 1] is cut into K equal windows. Each step moves real data back to the start
// a of a window along the path, solves the frozen teacher from a to the window's end b, and teaches
// the student the straight segment between the two points (velocity (z_b − z_a)/(b − a) at every t
// inside). No global pair set: the teacher runs inside windows only, on fresh points. K Euler steps
// (or any multiple of K) then follow the student's K straight pieces; the student starts as the
// teacher (train.init_from), whose velocity already is a window's mean slope where the flow is straight.
// The jump parameterisation keeps the teacher's meaning of the network's output on a curved path
// (method.path): a window becomes one DDIM-like jump λ·z + η·u to its end, so the untrained
// student already samples like a K-step DDIM of the teacher (on the linear path both forms agree).
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "rflow/flow/scheduler.h"
#include "rflow/flow/velocity_field.h"
#include "rflow/methods/method_config.h"

namespace rflow {

struct PerFlowOptions {
  int64_t windows = 4;
  int64_t solve_steps = 8;
  std::string solver = "euler";
  double guidance = 1.0;
  double start_share = 0.25;
  std::string parameterization = "velocity";

  template <class V>
  void visit(V& v) {
    v("windows", windows, "K: equal time windows, each learnt as one straight segment (sample with K steps or a multiple)");
    v("solve_steps", solve_steps, "teacher steps inside a window (PeRFlow: 8 for SD1.5)");
    v("solver", solver, "teacher solver inside a window: euler | midpoint | heun | rk4");
    v("guidance", guidance, "classifier-free guidance of the teacher's solve (labelled data; 1 = none)");
    v("start_share", start_share,
      "share of training times put exactly on a window's start, where K-step sampling evaluates the student and "
      "its target jumps from one window's slope to the next");
    v("parameterization", parameterization,
      "velocity: the student outputs each window's straight-segment velocity | jump: its output keeps the teacher's "
      "meaning (a velocity on method.path) and each window is one DDIM-like jump to its end, so the student starts as "
      "a K-step DDIM of the teacher (PeRFlow's dedicated parameterisation; the same as velocity on the linear path)");
  }
  void validate(const std::string& where) const;
};

// The window of each time: k = ⌊t·K⌋, with t = 1 in the last window; int64 [B].
at::Tensor perflow_window(const at::Tensor& t, int64_t windows);

// The jump from time a to b along `path` of a field whose output u at z (time a) is the path's
// velocity: with (x̂1, ε̂) the data and noise that (z, u) imply, ẑ_b = α_b·x̂1 + σ_b·ε̂ = λ·z + η·u.
// λ, η [B]. Linear path: λ = 1, η = b − a (a Euler step).
struct JumpCoefficients {
  at::Tensor lambda, eta;
};
JumpCoefficients jump_coefficients(const Scheduler& path, const at::Tensor& a, const at::Tensor& b);

// The velocity field a jump-parameterised student samples as (its raw output u is not a velocity):
// in window [a, b] at w = (t − a)/(b − a), v = ((λ − 1)·z + η·u) / (((1 − w) + w·λ)·(b − a)), which is
// the straight segment's slope where u is the window's constant target and stays finite at t = b.
VelocityField perflow_jump_field(VelocityField network, std::shared_ptr<const Scheduler> path, int64_t windows);

class FieldFn;
// z at b from z at a, each sample over its own interval [a_i, b_i] ([B] each), in `steps` equal
// steps of `solver` (euler | midpoint | heun | rk4): the teacher's solve inside a window.
at::Tensor solve_intervals(const FieldFn& f, const at::Tensor& za, const at::Tensor& a, const at::Tensor& b,
                           int64_t steps, const std::string& solver);

class PerFlow : public Method {
 public:
  explicit PerFlow(const MethodConfig& cfg);
  std::string name() const override { return "perflow"; }
  at::Tensor loss(const Batch& batch, TrainContext& ctx) override;
  bool needs_teacher() const override { return true; }

 private:
  TimeSamplerConfig time_;
  double label_dropout_;
  PerFlowOptions opt_;
  std::shared_ptr<const Scheduler> scheduler_;  // the jump form's path (method.path)
};

MethodEntry perflow_entry();

}  // namespace rflow
