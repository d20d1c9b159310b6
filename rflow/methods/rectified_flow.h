// Rectified flow (1-RF, Liu, Gong & Liu 2022; docs/methods.md): regress v_θ(X_t, t) on the
// path's target velocity with t ~ U[eps, 1] (or logit-normal). The same loss on coupled pairs is
// k-RF; the coupling is the BatchSource's business, not this method's.
#pragma once

#include "rflow/methods/method_config.h"

namespace rflow {

class RectifiedFlow : public Method {
 public:
  explicit RectifiedFlow(const MethodConfig& cfg);
  std::string name() const override { return "rectified_flow"; }
  at::Tensor loss(const Batch& batch, TrainContext& ctx) override;

 private:
  TimeSamplerConfig time_;
  double label_dropout_;
  std::string path_;  // method.path: the trainer's path must be this one
};

MethodEntry rectified_flow_entry();

}  // namespace rflow
