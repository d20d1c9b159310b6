#include "rflow/methods/adaflow.h"

#include <cmath>
#include <optional>

#include <torch/torch.h>

#include "rflow/flow/path.h"
#include "rflow/methods/cond_dropout.h"

namespace rflow {

void AdaFlowOptions::validate(const std::string& where) const {
  RF_CHECK(std::isfinite(variance_weight) && variance_weight >= 0, "variance_weight must be >= 0",
           where + ".variance_weight", "1 = the NLL as it is");
  RF_CHECK(!freeze_flow || variance_weight > 0, "with the flow frozen, variance_weight = 0 trains nothing",
           where + ".variance_weight", "leave it at 1");
}

AdaFlow::AdaFlow(const MethodConfig& cfg)
    : time_(cfg.time),
      label_dropout_(cfg.label_dropout),
      weight_(cfg.get<AdaFlowOptions>("adaflow").variance_weight),
      freeze_flow_(cfg.get<AdaFlowOptions>("adaflow").freeze_flow),
      path_(make_path(cfg.path)->name()) {}

at::Tensor AdaFlow::loss(const Batch& batch, TrainContext& ctx) {
  RF_CHECK(ctx.path.name() == path_, "method.path is '" + path_ + "' but the trainer runs the '" + ctx.path.name() + "' path",
           "Trainer", "pass make_path(cfg.method.path) to the Trainer");
  const at::Tensor t = sample_time(time_, batch.x1.size(0), batch.x1.device());
  Cond cond = batch.cond;
  cond = drop_conditioning(cond, label_dropout_);
  const PathSample s = ctx.path.sample(batch.x0, batch.x1, t);
  at::Tensor v;
  {
    // A frozen flow gets no gradient at all (its optimizer state stays zero, so it never moves).
    std::optional<torch::NoGradGuard> frozen;
    if (freeze_flow_) frozen.emplace();
    v = ctx.model.forward(s.xt, t, cond);
  }
  const at::Tensor fm = torch::mse_loss(v, s.target);
  const at::Tensor sigma = ctx.model.variance(s.xt, t, cond);
  RF_CHECK(sigma.defined(), "adaflow trains the model's variance head, and this model has none", "model",
           "give it one: model.mlp.variance_hidden = 128 (or model.temporal_unet.variance_hidden)");
  // Squared error summed over the sample's dimensions; detached: σ follows the flow, never leads it.
  const at::Tensor err = (s.target - v).detach().pow(2).flatten(1).sum(1);
  const at::Tensor nll = (err / (2.0 * sigma.pow(2)) + sigma.log()).mean();
  ctx.log("flow_loss", fm.detach());
  ctx.log("variance_nll", nll.detach());
  ctx.log("sigma_mean", sigma.detach().mean());
  return freeze_flow_ ? weight_ * nll : fm + weight_ * nll;
}

MethodEntry adaflow_entry() {
  MethodEntry e{[] { return AnyOptions::of<AdaFlowOptions>(); },
                [](const MethodConfig& c) { return std::make_unique<AdaFlow>(c); }};
  e.label = "AdaFlow";
  return e;
}

}  // namespace rflow
