#include "rflow/methods/rectified_flow.h"

#include <torch/torch.h>

#include "rflow/flow/flow_matching_loss.h"
#include "rflow/methods/label_dropout.h"

namespace rflow {

RectifiedFlow::RectifiedFlow(const MethodConfig& cfg)
    : time_(cfg.time), label_dropout_(cfg.label_dropout), path_(make_path(cfg.path)) {}

at::Tensor RectifiedFlow::loss(const Batch& batch, VelocityFieldImpl& model, TrainState&) {
  at::Tensor t = sample_time(time_, batch.x1.size(0), batch.x1.device());
  Cond cond;
  cond.labels = drop_labels(batch.labels, label_dropout_);
  return flow_matching_loss(model, *path_, batch.x0, batch.x1, t, cond);
}

}  // namespace rflow
