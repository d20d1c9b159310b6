// Distillation of a k-RF teacher into a one- or few-step student (docs/methods.md): train
// on the teacher's stored (z0, z1) pairs at fixed times only. One step (k = 1): the student's jump
// z0 + v(z0, 0) must land on z1; k steps: at t_j = j/k the student's velocity on the straight line
// z0 → z1 must equal z1 − z0, so k Euler steps reproduce the teacher's map.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "rflow/core/registry.h"
#include "rflow/methods/method_config.h"

namespace rflow {

struct DistillConfig {
  int64_t steps = 1;
  std::string loss = "l2";
  double huber_c = 0.0;
  std::string feature;
  double feature_weight = 1.0;
  double l2_weight = 0.0;
  bool allow_eval_network = false;

  template <class V>
  void visit(V& v) {
    v("steps", steps, "student steps k: trained at t = j/k, sampled with k Euler steps (1 = one step)");
    v("loss", loss, "l2 | pseudo_huber | feature (a registered feature network's distance, the LPIPS stand-in)");
    v("huber_c", huber_c, "pseudo-Huber c in sqrt(|d|^2 + c^2) - c (0 = 0.00054 sqrt(dim), as in iCT)");
    v("feature", feature, "loss = feature: name of the feature distance (images: registered by the image code)");
    v("feature_weight", feature_weight, "loss = feature: weight of the feature distance");
    v("l2_weight", l2_weight, "loss = feature: weight of an added L2 term (InstaFlow's LPIPS + L2)");
    v("allow_eval_network", allow_eval_network,
      "feature = fidnet in a run that the FID-proxy also evaluates: do it anyway (refused otherwise: the student "
      "would be graded by the features it was trained to match; the report marks the figures)");
  }
  void validate(const std::string& where = "method.distill") const;
};

// Per-sample distance between the student's predicted endpoints and the teacher's, [B] from two
// [B, ...] batches; must be differentiable in `pred`.
using FeatureDistance = std::function<at::Tensor(const at::Tensor& pred, const at::Tensor& target)>;
using FeatureDistanceFactory = std::function<FeatureDistance(const std::vector<int64_t>& sample_shape)>;
// Mutable so that image code (and tests) can register feature networks at start-up.
Registry<FeatureDistanceFactory>& feature_distances();

class Distill : public Method {
 public:
  Distill(DistillConfig cfg, double label_dropout);
  std::string name() const override { return "distill"; }
  at::Tensor loss(const Batch& batch, TrainContext& ctx) override;

 private:
  DistillConfig cfg_;
  double label_dropout_;
  FeatureDistance feature_;
};

MethodEntry distill_entry();

}  // namespace rflow
