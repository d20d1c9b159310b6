#include "rflow/methods/rectified_flow.h"

#include <torch/torch.h>

#include "rflow/flow/flow_matching_loss.h"
#include "rflow/methods/cond_dropout.h"

namespace rflow {

RectifiedFlow::RectifiedFlow(const MethodConfig& cfg)
    : time_(cfg.time), label_dropout_(cfg.label_dropout), path_(make_path(cfg.path)->name()) {}

at::Tensor RectifiedFlow::loss(const Batch& batch, TrainContext& ctx) {
  // A Trainer built by hand defaults to the linear path; training another one silently would
  // give a model the rest of the run (sampling, retiming) misreads.
  RF_CHECK(ctx.path.name() == path_, "method.path is '" + path_ + "' but the trainer runs the '" + ctx.path.name() + "' path",
           "Trainer", "pass make_path(cfg.method.path) to the Trainer");
  at::Tensor t = sample_time(time_, batch.x1.size(0), batch.x1.device());
  Cond cond = batch.cond;
  cond = drop_conditioning(cond, label_dropout_);
  return flow_matching_loss(ctx.model, ctx.path, batch.x0, batch.x1, t, cond);
}

MethodEntry rectified_flow_entry() {
  MethodEntry e{[] { return AnyOptions::of<NoOptions>(); },
                [](const MethodConfig& c) { return std::make_unique<RectifiedFlow>(c); }};
  e.label = "1-RF";
  return e;
}

}  // namespace rflow
