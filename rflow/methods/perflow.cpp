#include "rflow/methods/perflow.h"

#include <cmath>

#include <torch/torch.h>

#include "rflow/core/tensor_util.h"
#include "rflow/flow/path.h"
#include "rflow/methods/label_dropout.h"
#include "rflow/solve/rk_fixed.h"

namespace rflow {

namespace {
// The registered fixed-step solver of that name (it owns its tableau); null for any other solver.
std::unique_ptr<Solver> fixed_step_solver(const std::string& name) {
  if (!solvers().contains(name)) return nullptr;
  std::unique_ptr<Solver> s = solvers().get(name)();
  return dynamic_cast<const FixedStepRK*>(s.get()) ? std::move(s) : nullptr;
}
}  // namespace

void PerFlowOptions::validate(const std::string& where) const {
  RF_CHECK(windows >= 1 && windows <= 1000, "windows must be in [1, 1000]", where + ".windows", "PeRFlow uses 4");
  RF_CHECK(solve_steps >= 1 && solve_steps <= 10000, "solve_steps must be in [1, 10000]", where + ".solve_steps",
           "PeRFlow uses 8");
  RF_CHECK(fixed_step_solver(solver) != nullptr, "'" + solver + "' is not a fixed-step solver", where + ".solver",
           "use euler, midpoint, heun or rk4");
  RF_CHECK(std::isfinite(guidance), "guidance must be finite", where + ".guidance", "1 = none");
  RF_CHECK(start_share >= 0 && start_share <= 1, "start_share must be in [0, 1]", where + ".start_share", "");
}

at::Tensor perflow_window(const at::Tensor& t, int64_t windows) {
  return (t.to(torch::kFloat64) * double(windows)).floor().to(torch::kInt64).clamp(0, windows - 1);
}

at::Tensor solve_intervals(const FieldFn& f, const at::Tensor& za, const at::Tensor& a, const at::Tensor& b,
                           int64_t steps, const std::string& solver) {
  const std::unique_ptr<Solver> rk = fixed_step_solver(solver);
  RF_CHECK(rk != nullptr, "'" + solver + "' is not a fixed-step solver", "solve_intervals", "use euler, midpoint, heun or rk4");
  const ButcherTableau& tab = static_cast<const FixedStepRK&>(*rk).tableau();
  auto col = [&](const at::Tensor& v) { return expand_like(v, za); };
  const at::Tensor h = (b - a) / double(steps);
  at::Tensor z = za;
  for (int64_t j = 0; j < steps; ++j) {
    const at::Tensor tj = a + h * double(j);
    std::vector<at::Tensor> k;
    for (int s = 0; s < tab.stages(); ++s) {
      at::Tensor xs = z;
      for (int r = 0; r < s; ++r)
        if (tab.a[s][r] != 0.0) xs = xs + k[r] * col(h * tab.a[s][r]);
      k.push_back(f(xs, tj + h * tab.c[s]));
    }
    for (int s = 0; s < tab.stages(); ++s)
      if (tab.b[s] != 0.0) z = z + k[s] * col(h * tab.b[s]);
  }
  return z;
}

PerFlow::PerFlow(const MethodConfig& cfg)
    : time_(cfg.time), label_dropout_(cfg.label_dropout), opt_(cfg.get<PerFlowOptions>("perflow")) {}

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
  const at::Tensor target = (zb - za) / col(b - a);
  Cond cond = batch.cond;
  cond.labels = drop_labels(cond.labels, label_dropout_);
  return torch::mse_loss(ctx.model.forward(zt, t, cond), target);
}

MethodEntry perflow_entry() {
  return {[] { return AnyOptions::of<PerFlowOptions>(); },
          [](const MethodConfig& c) { return std::make_unique<PerFlow>(c); }};
}

}  // namespace rflow
