// The Method contract: a training objective. The trainer hands it a coupled batch and a
// TrainContext (the model, a frozen EMA copy, an optional frozen teacher, the path, the step and a
// metrics sink) and gets back a scalar loss; it knows nothing else about any method (rectified
// flow, distillation, PeRFlow ... each implement this in rflow/methods/).
#pragma once

#include <map>
#include <string>

#include <ATen/core/Tensor.h>

#include "rflow/core/error.h"
#include "rflow/data/batch_source.h"
#include "rflow/flow/path.h"
#include "rflow/flow/velocity_field.h"

namespace rflow {

struct TrainContext {
  VelocityFieldImpl& model;         // being trained (train mode, gradients on)
  const Path& path;                 // method.path: methods interpolate through it, never by hand
  int64_t step = 0;
  VelocityFieldImpl* ema = nullptr;      // the trainer's EMA of `model`: frozen, eval mode
  VelocityFieldImpl* teacher = nullptr;  // method.teacher's EMA field: frozen, eval mode
  // Scalars written to metrics.jsonl beside the loss (the value of the last step of each logging
  // window). Log tensors, not numbers: they are read back only when a line is written, so a
  // method costs no device sync per step.
  std::map<std::string, at::Tensor> metrics;

  VelocityFieldImpl& ema_model() const {
    RF_CHECK(ema != nullptr, "this method needs the EMA model, but the backbone is not cloneable", "train",
             "derive the backbone from rflow::CloneableField<Self>");
    return *ema;
  }
  VelocityFieldImpl& teacher_model() const {
    RF_CHECK(teacher != nullptr, "this method needs a teacher field", "method.teacher",
             "set method.teacher to a trained run directory or checkpoint");
    return *teacher;
  }
  void log(const std::string& key, const at::Tensor& value) { metrics[key] = value.detach(); }
  void log(const std::string& key, double value);  // for host-side numbers
};

class Method {
 public:
  virtual ~Method() = default;
  virtual std::string name() const = 0;
  virtual at::Tensor loss(const Batch& batch, TrainContext& ctx) = 0;
  // Whether loss() reads ctx.teacher (the pipeline then requires method.teacher).
  virtual bool needs_teacher() const { return false; }
};

}  // namespace rflow
