#include "rflow/methods/perflow.h"

#include <cmath>

#include <torch/torch.h>

#include "rflow/core/tensor_util.h"
#include "rflow/flow/path.h"
#include "rflow/methods/cond_dropout.h"
#include "rflow/solve/butcher.h"
#include "rflow/solve/rk_stages.h"
#include "rflow/solve/solver.h"

namespace rflow {

namespace {
// The registered solver of that name if it is a fixed-step one (it owns its tableau); null otherwise.
std::unique_ptr<Solver> fixed_step_solver(const std::string& name) {
  if (!solvers().contains(name)) return nullptr;
  std::unique_ptr<Solver> s = solvers().get(name)();
  return s->tableau() ? std::move(s) : nullptr;
}

// rk_step's arithmetic for PeRFlow's windows: each sample has its own step size h [B].
struct WindowOps {
  const FieldFn& f;
  const RkPlan& plan;
  at::Tensor t, h;  // [B]
  at::Tensor combine(const at::Tensor& x, const std::vector<at::Tensor>& k, const RkRow& row) const {
    at::Tensor xs = x;
    for (const RkTerm& r : row) xs = xs + k[r.stage] * expand_like(h * r.coef, x);
    return xs;
  }
  at::Tensor eval(const at::Tensor& xs, int s) const { return f(xs, t + h * plan.c[s]); }
  at::Tensor advance(const at::Tensor& x, const std::vector<at::Tensor>& k, const RkRow& row) const {
    return combine(x, k, row);
  }
};
}  // namespace

void PerFlowOptions::validate(const std::string& where) const {
  RF_CHECK(windows >= 1 && windows <= 1000, "windows must be in [1, 1000]", where + ".windows", "PeRFlow uses 4");
  RF_CHECK(solve_steps >= 1 && solve_steps <= 10000, "solve_steps must be in [1, 10000]", where + ".solve_steps",
           "PeRFlow uses 8");
  RF_CHECK(fixed_step_solver(solver) != nullptr, "'" + solver + "' is not a fixed-step solver", where + ".solver",
           "use euler, midpoint, heun or rk4");
  RF_CHECK(std::isfinite(guidance), "guidance must be finite", where + ".guidance", "1 = none");
  RF_CHECK(start_share >= 0 && start_share <= 1, "start_share must be in [0, 1]", where + ".start_share", "");
  RF_CHECK(parameterization == "velocity" || parameterization == "jump",
           "unknown parameterization '" + parameterization + "'", where + ".parameterization", "use velocity or jump");
}

JumpCoefficients jump_coefficients(const Scheduler& path, const at::Tensor& a, const at::Tensor& b) {
  const SchedulerValues sa = path.at(a), sb = path.at(b);
  // (z, u) = M·(x1, ε) with M = [[α, σ], [α', σ']] at a; ẑ_b = (α_b, σ_b)·M⁻¹·(z, u).
  const at::Tensor det = sa.alpha * sa.d_sigma - sa.sigma * sa.d_alpha;
  return {(sb.alpha * sa.d_sigma - sb.sigma * sa.d_alpha) / det, (sb.sigma * sa.alpha - sb.alpha * sa.sigma) / det};
}

namespace {

class PerflowJumpFieldImpl : public CloneableField<PerflowJumpFieldImpl> {
 public:
  PerflowJumpFieldImpl(VelocityField network, std::shared_ptr<const Scheduler> path, int64_t windows)
      : network_(std::move(network)), path_(std::move(path)), windows_(windows) {
    register_module("network", network_);
  }
  // Only cloning calls reset: the copy needs a network of its own (clone_field keeps the RNG).
  void reset() override { network_ = register_module("network", clone_field(*network_)); }
  using VelocityFieldImpl::forward;
  at::Tensor forward(const at::Tensor& z, const at::Tensor& t, const Cond& c) override {
    const at::Tensor u = network_->forward(z, t, c);
    const at::Tensor tt = t.to(torch::kFloat64);
    const at::Tensor k = perflow_window(tt, windows_).to(torch::kFloat64);
    const at::Tensor a = k / double(windows_), b = (k + 1) / double(windows_);
    const JumpCoefficients j = jump_coefficients(*path_, a, b);
    const at::Tensor w = (tt - a) / (b - a);
    const at::Tensor scale = ((1.0 - w) + w * j.lambda) * (b - a);
    auto col = [&](const at::Tensor& v) { return expand_like(v.to(z.scalar_type()), z); };
    return (z * col(j.lambda - 1.0) + u * col(j.eta)) / col(scale);
  }
  std::vector<int64_t> sample_shape() const override { return network_->sample_shape(); }

 private:
  VelocityField network_;
  std::shared_ptr<const Scheduler> path_;
  int64_t windows_;
};

}  // namespace

VelocityField perflow_jump_field(VelocityField network, std::shared_ptr<const Scheduler> path, int64_t windows) {
  return std::make_shared<PerflowJumpFieldImpl>(std::move(network), std::move(path), windows);
}

at::Tensor perflow_window(const at::Tensor& t, int64_t windows) {
  return (t.to(torch::kFloat64) * double(windows)).floor().to(torch::kInt64).clamp(0, windows - 1);
}

at::Tensor solve_intervals(const FieldFn& f, const at::Tensor& za, const at::Tensor& a, const at::Tensor& b,
                           int64_t steps, const std::string& solver) {
  const std::unique_ptr<Solver> rk = fixed_step_solver(solver);
  RF_CHECK(rk != nullptr, "'" + solver + "' is not a fixed-step solver", "solve_intervals", "use euler, midpoint, heun or rk4");
  const RkPlan plan = rk_plan(*rk->tableau());
  WindowOps ops{f, plan, a, (b - a) / double(steps)};
  std::vector<at::Tensor> k;
  at::Tensor z = za;
  for (int64_t j = 0; j < steps; ++j) {
    ops.t = a + ops.h * double(j);
    z = rk_step(plan, ops, z, k);
  }
  return z;
}

PerFlow::PerFlow(const MethodConfig& cfg)
    : time_(cfg.time),
      label_dropout_(cfg.label_dropout),
      opt_(cfg.get<PerFlowOptions>("perflow")),
      scheduler_(make_scheduler(cfg.path)) {
  if (opt_.parameterization == "jump") {
    // From t = 0 the output must tell data from noise: not so where α'(0) = 0 (polynomial:N, N > 1).
    const JumpCoefficients j = jump_coefficients(*scheduler_, torch::zeros({1}, torch::kFloat64),
                                                 torch::full({1}, 1.0 / double(opt_.windows), torch::kFloat64));
    RF_CHECK(torch::isfinite(j.lambda).all().item<bool>() && torch::isfinite(j.eta).all().item<bool>(),
             "the jump parameterisation is undefined on method.path = " + cfg.path +
                 ": its velocity at t = 0 carries no information about the data",
             "method.perflow.parameterization", "use the velocity form, or a cosine, vp or linear path");
  }
}

at::Tensor PerFlow::loss(const Batch& batch, TrainContext& ctx) {
  const int64_t B = batch.x1.size(0);
  at::Tensor t = sample_time(time_, B, batch.x1.device());
  const at::Tensor k = perflow_window(t, opt_.windows).to(t.dtype());
  const at::Tensor a = k / double(opt_.windows), b = (k + 1) / double(opt_.windows);
  if (opt_.start_share > 0) t = torch::where(torch::rand_like(t) < opt_.start_share, a, t);
  auto col = [&](const at::Tensor& v) { return expand_like(v, batch.x1); };
  // The window's end points: real data moved back to a along the path, the teacher solved to b.
  at::Tensor za, zb;
  {
    torch::NoGradGuard ng;
    za = ctx.path.sample(batch.x0, batch.x1, a).xt;
    zb = solve_intervals(guided_field(ctx.teacher_model(), batch.cond, opt_.guidance), za, a, b, opt_.solve_steps,
                         opt_.solver);
  }
  const at::Tensor w = (t - a) / (b - a);
  const at::Tensor zt = za + (zb - za) * col(w);
  at::Tensor target;
  if (opt_.parameterization == "jump") {
    // The output that makes the jump from the window's start land on the teacher's end, constant
    // along the window (the sampling field reads it at inner times through the same segment).
    const JumpCoefficients j = jump_coefficients(*scheduler_, a.to(torch::kFloat64), b.to(torch::kFloat64));
    target = (zb - za * col(j.lambda.to(za.scalar_type()))) / col(j.eta.to(za.scalar_type()));
  } else {
    target = (zb - za) / col(b - a);
  }
  Cond cond = batch.cond;
  cond = drop_conditioning(cond, label_dropout_);
  return torch::mse_loss(ctx.model.forward(zt, t, cond), target);
}

MethodEntry perflow_entry() {
  MethodEntry e{[] { return AnyOptions::of<PerFlowOptions>(); },
                [](const MethodConfig& c) { return std::make_unique<PerFlow>(c); }};
  e.label = "PeRFlow";
  e.sampling_field = [](VelocityField network, const MethodConfig& c) -> VelocityField {
    const auto& o = c.get<PerFlowOptions>("perflow");
    if (o.parameterization != "jump") return network;
    return perflow_jump_field(std::move(network), make_scheduler(c.path), o.windows);
  };
  return e;
}

}  // namespace rflow
