// Behaviour cloning, the baseline of policy papers: the MSE regression of the action on the
// observation. Written as a one-step map so that it samples, evaluates and rolls out like the
// flows: the model learns v(x0, 0 | obs) = E[action | obs] − x0, so one Euler step from any x0
// lands on the mean action (sample with solver = euler, steps = 1). Where demonstrations branch,
// the mean is between the branches: what AdaFlow is compared against.
#pragma once

#include "rflow/methods/method_config.h"

namespace rflow {

class BehaviorCloning : public Method {
 public:
  explicit BehaviorCloning(const MethodConfig&) {}
  std::string name() const override { return "bc"; }
  at::Tensor loss(const Batch& batch, TrainContext& ctx) override;
};

MethodEntry behavior_cloning_entry();

}  // namespace rflow
