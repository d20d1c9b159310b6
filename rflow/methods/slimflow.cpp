#include "rflow/methods/slimflow.h"

#include <cmath>

#include <torch/torch.h>

#include "rflow/core/tensor_util.h"
#include "rflow/flow/path.h"
#include "rflow/methods/cond_dropout.h"

namespace rflow {

void SlimFlowOptions::validate(const std::string& where) const {
  RF_CHECK(phase == "reflow" || phase == "distill", "unknown phase '" + phase + "'", where + ".phase",
           "use reflow (annealing reflow) or distill (flow-guided distillation)");
  RF_CHECK(anneal_steps >= 0, "anneal_steps must be >= 0", where + ".anneal_steps", "0 = plain reflow");
  RF_CHECK(schedule == "linear" || schedule == "cosine", "unknown schedule '" + schedule + "'", where + ".schedule",
           "use linear or cosine");
  RF_CHECK(std::isfinite(guidance_weight) && guidance_weight >= 0, "guidance_weight must be >= 0",
           where + ".guidance_weight", "1 = the paper's uniform weights");
  RF_CHECK(guide_t_min >= 0 && guide_t_min <= guide_t_max && guide_t_max < 1, "need 0 <= guide_t_min <= guide_t_max < 1",
           where + ".guide_t_min", "the paper: 0.2 and 0.8");
}

double slimflow_beta(int64_t step, int64_t anneal_steps, const std::string& schedule) {
  if (anneal_steps <= 0 || step >= anneal_steps) return 0.0;
  const double p = double(std::max<int64_t>(step, 0)) / double(anneal_steps);
  return schedule == "cosine" ? 0.5 * (1.0 + std::cos(M_PI * p)) : 1.0 - p;
}

at::Tensor anneal_source(const at::Tensor& z0, double beta, const at::Tensor& eps) {
  if (beta <= 0) return z0;
  if (beta >= 1) return eps;
  return z0 * std::sqrt(1.0 - beta * beta) + eps * beta;
}

SlimFlow::SlimFlow(const MethodConfig& cfg)
    : time_(cfg.time), label_dropout_(cfg.label_dropout), opt_(cfg.get<SlimFlowOptions>("slimflow")) {}

at::Tensor SlimFlow::loss(const Batch& batch, TrainContext& ctx) {
  return opt_.phase == "distill" ? distill_loss(batch, ctx) : anneal_loss(batch, ctx);
}

at::Tensor SlimFlow::anneal_loss(const Batch& batch, TrainContext& ctx) {
  const double beta = slimflow_beta(ctx.step, opt_.anneal_steps, opt_.schedule);
  // No draw at β = 0, so that plain reflow consumes the random numbers rectified flow does.
  at::Tensor z0 = beta > 0 ? anneal_source(batch.x0, beta, torch::randn_like(batch.x0)) : batch.x0;
  at::Tensor z1 = batch.x1;
  if (opt_.paired_flip && z1.dim() >= 3) {
    // The same flip on both ends keeps the pair a pair for a teacher that is flip-equivariant.
    const at::Tensor flip = expand_like(torch::rand({z1.size(0)}, z1.options()) < 0.5, z1);
    z0 = torch::where(flip, z0.flip(-1), z0);
    z1 = torch::where(flip, z1.flip(-1), z1);
  }
  const at::Tensor t = sample_time(time_, z1.size(0), z1.device());
  Cond cond = batch.cond;
  cond = drop_conditioning(cond, label_dropout_);
  const PathSample s = ctx.path.sample(z0, z1, t);
  ctx.log("beta", beta);
  return torch::mse_loss(ctx.model.forward(s.xt, t, cond), s.target);
}

at::Tensor SlimFlow::distill_loss(const Batch& batch, TrainContext& ctx) {
  const at::Tensor& z0 = batch.x0;
  const int64_t B = z0.size(0);
  Cond cond = batch.cond;
  cond = drop_conditioning(cond, label_dropout_);
  const at::Tensor zero = torch::zeros({B}, z0.options());
  // The teacher pairs: one step from z0 must land on z1.
  const at::Tensor pair = (z0 + ctx.model.forward(z0, zero, cond) - batch.x1).pow(2).flatten(1).mean(1).mean();
  ctx.log("pair_loss", pair);
  if (opt_.guidance_weight == 0) return pair;
  // The guidance: from fresh noise, a point on the student's own one-step line at t', completed to
  // t = 1 by the frozen 2-RF; the student's one step must land there too.
  const at::Tensor eps = torch::randn_like(z0);
  const at::Tensor u = ctx.model.forward(eps, zero, cond);
  at::Tensor target;
  {
    torch::NoGradGuard ng;
    const at::Tensor tp = torch::rand({B}, z0.options()) * (opt_.guide_t_max - opt_.guide_t_min) + opt_.guide_t_min;
    const at::Tensor xt = eps + u.detach() * expand_like(tp, z0);
    target = xt + ctx.teacher_model().forward(xt, tp, cond) * expand_like(1 - tp, z0);
  }
  const at::Tensor guide = (eps + u - target).pow(2).flatten(1).mean(1).mean();
  ctx.log("guidance_loss", guide);
  return pair + opt_.guidance_weight * guide;
}

MethodEntry slimflow_entry() {
  MethodEntry e{[] { return AnyOptions::of<SlimFlowOptions>(); },
                [](const MethodConfig& c) { return std::make_unique<SlimFlow>(c); }};
  e.label = "SlimFlow student";
  return e;
}

}  // namespace rflow
