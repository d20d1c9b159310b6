// Consistency Flow Matching (Yang et al. 2024; docs/methods.md): a flow made straight by
// self-consistency instead of reflow. Time is cut into K segments; inside segment i (ending at s)
// the model's extrapolated end point f(t, x_t) = x_t + (s − t)·v(x_t, t) must agree with the target
// network's at r = t + Δt on the same line (and, weighted by α, the velocities too), so each segment
// becomes straight and K Euler steps sample it. Two phases: before `phase1_steps` the target is
// always the segment's true end point (a segment-wise rectified flow); then, for r below the
// boundary B, the target network's own extrapolation. The target network is the EMA (or the model
// itself without gradients, as the released code does).
#pragma once

#include <cstdint>
#include <string>

#include "rflow/methods/method_config.h"

namespace rflow {

struct ConsistencyFmOptions {
  int64_t segments = 2;
  double delta_t = 1e-2;
  double alpha = 1e-5;
  double boundary = 0.9;
  int64_t phase1_steps = 0;
  std::string target = "ema";

  template <class V>
  void visit(V& v) {
    v("segments", segments, "K: segments, each made straight (sample with K Euler steps)");
    v("delta_t", delta_t, "Δt between the two times compared on one line (paper 1e-3; 1e-2 is steadier in fp32)");
    v("alpha", alpha, "weight of the velocity-consistency term");
    v("boundary", boundary, "B: after phase 1, times r ≥ B take the segment's true end point as target");
    v("phase1_steps", phase1_steps, "training steps of phase 1 (B = 0: target = the true segment end); the paper: half the run");
    v("target", target, "the target network: ema | self (the model's own weights without gradients, as the released code)");
  }
  void validate(const std::string& where) const;
};

class ConsistencyFm : public Method {
 public:
  explicit ConsistencyFm(const MethodConfig& cfg);
  std::string name() const override { return "consistency_fm"; }
  at::Tensor loss(const Batch& batch, TrainContext& ctx) override;

 private:
  TimeSamplerConfig time_;
  double label_dropout_;
  ConsistencyFmOptions opt_;
};

MethodEntry consistency_fm_entry();

}  // namespace rflow
