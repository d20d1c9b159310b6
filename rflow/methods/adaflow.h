// AdaFlow (Hu, Liu, Liu & Liu 2024; docs/methods.md): rectified flow for a policy's velocity,
// trained jointly with the model's variance head σ(x_t, t | obs) by the Gaussian negative
// log-likelihood of the velocity's error, the error detached so the flow learns exactly as under
// rectified flow. At its optimum σ² = E[‖u − v‖² | x_t, obs]: zero where the demonstrations leave
// one answer (one Euler step is exact there), large where they branch. The adaflow solver steps by it.
// With freeze_flow only the head learns, on a flow trained before (the paper's two-stage recipe).
#pragma once

#include "rflow/methods/method_config.h"

namespace rflow {

struct AdaFlowOptions {
  double variance_weight = 1.0;
  bool freeze_flow = false;

  template <class V>
  void visit(V& v) {
    v("variance_weight", variance_weight, "weight of the variance head's NLL beside the flow-matching loss");
    v("freeze_flow", freeze_flow,
      "train only the variance head, the flow kept as initialised (train.init_from = a trained flow with the same "
      "model): AdaFlow's two-stage recipe");
  }
  void validate(const std::string& where) const;
};

class AdaFlow : public Method {
 public:
  explicit AdaFlow(const MethodConfig& cfg);
  std::string name() const override { return "adaflow"; }
  at::Tensor loss(const Batch& batch, TrainContext& ctx) override;

 private:
  TimeSamplerConfig time_;
  double label_dropout_, weight_;
  bool freeze_flow_;
  std::string path_;
};

MethodEntry adaflow_entry();

}  // namespace rflow
