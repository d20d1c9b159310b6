#include "rflow/solve/retime.h"
#include "rflow/core/tensor_util.h"

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

namespace {
// Where any exact value is not finite (vp's σ̇ at r = 1) the sample takes all four from the clamped
// time: mixing exact α, σ with clamped derivatives would not describe one point of the path, and
// keeping the infinity would turn into inf·0 = NaN in the velocity.
SchedulerValues finite_values(const Scheduler& sched, const at::Tensor& r) {
  SchedulerValues e = sched.at(r);
  at::Tensor ok = torch::isfinite(e.alpha) & torch::isfinite(e.sigma) & torch::isfinite(e.d_alpha) &
                  torch::isfinite(e.d_sigma);
  SchedulerValues c = sched.at(r.clamp(kRetimeTimeEps, 1 - kRetimeTimeEps));
  return {torch::where(ok, e.alpha, c.alpha), torch::where(ok, e.sigma, c.sigma),
          torch::where(ok, e.d_alpha, c.d_alpha), torch::where(ok, e.d_sigma, c.d_sigma)};
}
}  // namespace

FieldFn retime_field(FieldFn linear_field, std::shared_ptr<const Scheduler> target) {
  RF_CHECK(static_cast<bool>(linear_field), "empty linear field", "retime_field",
           "pass the FieldFn of a model trained on the linear path (bind_field)");
  RF_CHECK(target != nullptr, "null target scheduler", "retime_field", "pass make_scheduler(spec)");
  // The linear scheduler maps every r to itself with s = 1: returning the field keeps it exact.
  if (target->name() == "linear") return linear_field;

  // with_rows: a per-sample solver's row indices must reach the inner field, whose bound
  // conditioning (labels) is indexed by them.
  auto retimed = [f = std::move(linear_field), sched = std::move(target)](
                     const at::Tensor& x, const at::Tensor& r, const at::Tensor& rows) {
    RF_CHECK(r.defined() && r.dim() == 1 && x.dim() >= 1 && r.size(0) == x.size(0), "t must be [B]",
             "retime_field", "the solver passes one time per sample");
    // Per-sample scalars in float64: they are only [B], and float32 would round t(r) near 1 before
    // the single rounding to the time dtype the linear field is given.
    SchedulerValues v = finite_values(*sched, r.to(x.device(), at::kDouble));
    at::Tensor s = v.alpha + v.sigma;
    at::Tensor ds = v.d_alpha + v.d_sigma;
    at::Tensor t = v.alpha / s;
    at::Tensor dt = (v.d_alpha * v.sigma - v.alpha * v.d_sigma) / (s * s);

    auto bc = [&](const at::Tensor& a) { return expand_like(a, x).to(x.scalar_type()); };
    at::Tensor v_lin = f(x / bc(s), t.to(r.scalar_type()), rows);
    return bc(ds / s) * x + bc(s * dt) * v_lin;
  };
  return FieldFn::with_rows(std::move(retimed));
}

}  // namespace rflow
