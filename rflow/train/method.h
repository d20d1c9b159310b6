// The Method contract: a training objective. The trainer hands it a coupled batch and the model and
// gets back a scalar loss; it knows nothing else about any method (rectified flow, reflow,
// distillation ... each implement this in rflow/methods/).
#pragma once

#include <map>
#include <string>

#include <ATen/core/Tensor.h>

#include "rflow/data/batch_source.h"
#include "rflow/flow/velocity_field.h"

namespace rflow {

struct TrainState {
  int64_t step = 0;
  std::map<std::string, double> metrics;  // extra scalars a method wants logged
};

class Method {
 public:
  virtual ~Method() = default;
  virtual std::string name() const = 0;
  virtual at::Tensor loss(const Batch& batch, VelocityFieldImpl& model, TrainState& state) = 0;
};

}  // namespace rflow
