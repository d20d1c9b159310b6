#include "rflow/methods/behavior_cloning.h"

#include <torch/torch.h>

namespace rflow {

at::Tensor BehaviorCloning::loss(const Batch& batch, TrainContext& ctx) {
  const at::Tensor t = torch::zeros({batch.x0.size(0)}, batch.x0.options());
  return torch::mse_loss(batch.x0 + ctx.model.forward(batch.x0, t, batch.cond), batch.x1);
}

MethodEntry behavior_cloning_entry() {
  MethodEntry e{[] { return AnyOptions::of<NoOptions>(); },
                [](const MethodConfig& c) { return std::make_unique<BehaviorCloning>(c); }};
  e.one_step_map = true;
  e.label = "behaviour cloning";
  return e;
}

}  // namespace rflow
