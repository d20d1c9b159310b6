#include "rflow/methods/consistency_fm.h"

#include <cmath>

#include <torch/torch.h>

#include "rflow/core/tensor_util.h"
#include "rflow/flow/path.h"
#include "rflow/methods/cond_dropout.h"
#include "rflow/methods/perflow.h"

namespace rflow {

void ConsistencyFmOptions::validate(const std::string& where) const {
  RF_CHECK(segments >= 1 && segments <= 1000, "segments must be in [1, 1000]", where + ".segments", "the paper: 2");
  RF_CHECK(delta_t > 0 && delta_t < 1.0 / double(segments), "delta_t must be in (0, 1/segments)", where + ".delta_t",
           "1e-3 (paper) or 1e-2");
  RF_CHECK(std::isfinite(alpha) && alpha >= 0, "alpha must be >= 0", where + ".alpha", "the paper: 1e-5");
  RF_CHECK(boundary >= 0 && boundary <= 1, "boundary must be in [0, 1]", where + ".boundary", "the paper: 0.9");
  RF_CHECK(phase1_steps >= 0, "phase1_steps must be >= 0", where + ".phase1_steps", "");
  RF_CHECK(target == "ema" || target == "self", "unknown target network '" + target + "'", where + ".target",
           "use ema or self");
}

ConsistencyFm::ConsistencyFm(const MethodConfig& cfg)
    : time_(cfg.time), label_dropout_(cfg.label_dropout), opt_(cfg.get<ConsistencyFmOptions>("consistency_fm")) {}

at::Tensor ConsistencyFm::loss(const Batch& batch, TrainContext& ctx) {
  RF_CHECK(ctx.path.name() == "linear", "consistency_fm compares points on one straight line", "method.path",
           "use the linear path");
  const int64_t B = batch.x1.size(0);
  // t in [0, 1 − Δt), so r = t + Δt stays inside [0, 1].
  const at::Tensor t = sample_time(time_, B, batch.x1.device()) * (1.0 - opt_.delta_t);
  const at::Tensor r = t + opt_.delta_t;
  const at::Tensor s = (perflow_window(t, opt_.segments) + 1).to(t.dtype()) / double(opt_.segments);
  auto col = [&](const at::Tensor& v) { return expand_like(v, batch.x1); };
  auto on_line = [&](const at::Tensor& tau) { return batch.x0 + (batch.x1 - batch.x0) * col(tau); };
  Cond cond = batch.cond;
  cond = drop_conditioning(cond, label_dropout_);
  const at::Tensor xt = on_line(t), xr = on_line(r);
  const at::Tensor v = ctx.model.forward(xt, t, cond);
  const at::Tensor f = xt + v * col(s - t);
  // Phase 1 anchors every target to the segment's true end; phase 2 only from the boundary on.
  const double boundary = ctx.step < opt_.phase1_steps ? 0.0 : opt_.boundary;
  const at::Tensor use_net = (r < boundary) & (r < s);
  at::Tensor f_target, v_target;
  {
    torch::NoGradGuard ng;
    VelocityFieldImpl& net = opt_.target == "ema" ? ctx.ema_model() : ctx.model;
    v_target = net.forward(xr, r, cond);
    f_target = torch::where(col(use_net), xr + v_target * col(s - r), on_line(s));
  }
  const at::Tensor per_f = (f - f_target).pow(2).flatten(1).mean(1);
  // The velocity term only where t and r share a segment and the target is the network's.
  const at::Tensor v_mask = ((s - t) > 1.01 * opt_.delta_t) & (t < boundary);
  const at::Tensor per_v = (v - v_target).pow(2).flatten(1).mean(1) * v_mask.to(v.dtype());
  const at::Tensor loss = (per_f + opt_.alpha * per_v).mean();
  ctx.log("endpoint_loss", per_f.mean());
  ctx.log("boundary", boundary);
  return loss;
}

MethodEntry consistency_fm_entry() {
  MethodEntry e{[] { return AnyOptions::of<ConsistencyFmOptions>(); },
                [](const MethodConfig& c) { return std::make_unique<ConsistencyFm>(c); }};
  e.label = "Consistency-FM";
  return e;
}

}  // namespace rflow
