// SlimFlow (Zhu, Liu & Liu 2024; docs/methods.md): one-step students much smaller than their
// teacher, in two phases. phase = "reflow" (annealing reflow): a small model trained from scratch on
// the big teacher's (z0, z1) pairs, its noise side blended as z0' = √(1 − β²)·z0 + β·ε with β going
// from 1 (fresh noise: plain rectified flow, which a small model learns from scratch) to 0 (the
// pairs: reflow) over anneal_steps; for images the pair can be flipped together. phase = "distill"
// (flow-guided distillation): from that small 2-RF, the one-step jump must land on z1, and from fresh
// noise on the frozen 2-RF's completion of the student's own one-step line (the guidance term).
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "rflow/methods/method_config.h"

namespace rflow {

struct SlimFlowOptions {
  std::string phase = "reflow";
  int64_t anneal_steps = 1000;
  std::string schedule = "linear";
  bool paired_flip = false;
  double guidance_weight = 1.0;
  double guide_t_min = 0.2, guide_t_max = 0.8;

  template <class V>
  void visit(V& v) {
    v("phase", phase, "reflow (annealing reflow of a small model on a teacher's pairs) | distill (flow-guided distillation; method.teacher = that small 2-RF)");
    v("anneal_steps", anneal_steps, "reflow: steps over which β goes from 1 (fresh noise) to 0 (the pairs); 0 = plain reflow");
    v("schedule", schedule, "reflow: how β falls: linear | cosine");
    v("paired_flip", paired_flip, "reflow, images: flip z0 and z1 together (left-right) with probability 1/2");
    v("guidance_weight", guidance_weight, "distill: weight of the 2-RF guidance term (0 = plain distillation)");
    v("guide_t_min", guide_t_min, "distill: the guidance point's time t' is drawn from [guide_t_min, guide_t_max]");
    v("guide_t_max", guide_t_max, "distill: upper end of t'");
  }
  void validate(const std::string& where) const;
};

// β at a training step: 1 at step 0, 0 from anneal_steps on (0 when anneal_steps = 0).
double slimflow_beta(int64_t step, int64_t anneal_steps, const std::string& schedule);
// √(1 − β²)·z0 + β·ε: unit variance kept for independent standard normal z0 and ε.
at::Tensor anneal_source(const at::Tensor& z0, double beta, const at::Tensor& eps);

class SlimFlow : public Method {
 public:
  explicit SlimFlow(const MethodConfig& cfg);
  std::string name() const override { return "slimflow"; }
  at::Tensor loss(const Batch& batch, TrainContext& ctx) override;
  bool needs_teacher() const override { return opt_.phase == "distill"; }

 private:
  at::Tensor anneal_loss(const Batch& batch, TrainContext& ctx);
  at::Tensor distill_loss(const Batch& batch, TrainContext& ctx);
  TimeSamplerConfig time_;
  double label_dropout_;
  SlimFlowOptions opt_;
};

MethodEntry slimflow_entry();

}  // namespace rflow
