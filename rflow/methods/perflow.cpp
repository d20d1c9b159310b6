#include "rflow/methods/perflow.h"

#include <cmath>

#include <torch/torch.h>

#include "rflow/flow/path.h"
#include "rflow/methods/label_dropout.h"
#include "rflow/solve/butcher.h"
#include "rflow/solve/solver.h"

namespace rflow {

namespace {
const ButcherTableau& tableau(const std::string& name) {
  if (name == "midpoint") return midpoint_tableau();
  if (name == "heun") return heun_tableau();
  if (name == "rk4") return rk4_tableau();
  return euler_tableau();
}
}  // namespace

void PerFlowOptions::validate(const std::string& where) const {
  RF_CHECK(windows >= 1 && windows <= 1000, "windows must be in [1, 1000]", where + ".windows", "PeRFlow uses 4");
  RF_CHECK(solve_steps >= 1 && solve_steps <= 10000, "solve_steps must be in [1, 10000]", where + ".solve_steps",
           "PeRFlow uses 8");
  RF_CHECK(solver == "euler" || solver == "midpoint" || solver == "heun" || solver == "rk4",
           "unknown window solver '" + solver + "'", where + ".solver", "use euler, midpoint, heun or rk4");
  RF_CHECK(std::isfinite(guidance), "guidance must be finite", where + ".guidance", "1 = none");
  RF_CHECK(start_share >= 0 && start_share <= 1, "start_share must be in [0, 1]", where + ".start_share", "");
}

at::Tensor perflow_window(const at::Tensor& t, int64_t windows) {
  return (t.to(torch::kFloat64) * double(windows)).floor().to(torch::kInt64).clamp(0, windows - 1);
}

at::Tensor solve_intervals(const FieldFn& f, const at::Tensor& za, const at::Tensor& a, const at::Tensor& b,
                           int64_t steps, const std::string& solver) {
  std::vector<int64_t> shape(za.dim(), 1);
  shape[0] = za.size(0);
  auto col = [&](const at::Tensor& v) { return v.view(shape).to(za.dtype()); };
  const ButcherTableau& tab = tableau(solver);
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
  std::vector<int64_t> shape(batch.x1.dim(), 1);
  shape[0] = B;
  auto col = [&](const at::Tensor& v) { return v.view(shape).to(batch.x1.dtype()); };
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
