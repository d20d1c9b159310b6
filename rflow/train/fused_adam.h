// Adam / AdamW over a FlatParameters buffer: torch::optim's update as one pass over the flat
// buffers on the CPU (a vectorised loop split across threads), as eight whole-model ATen ops
// elsewhere, instead of eight ops per parameter tensor. The moments live in the torch optimizer's own
// per-parameter state as views of two flat buffers, so optimizer.pt keeps its format: checkpoints
// written before or after resume the same way (call adopt_state() after loading one).
#pragma once

#include <torch/optim/optimizer.h>

#include "rflow/nn/flat_parameters.h"
#include "rflow/train/train_config.h"

namespace rflow {

class FusedAdam {
 public:
  // opt: the torch::optim::Adam or AdamW built from cfg over flat's parameters.
  FusedAdam(torch::optim::Optimizer& opt, const FlatParameters& flat, const TrainConfig& cfg);
  // grad_scale: the clipping factor (a 0-dim tensor from grad_norm_flat), or undefined.
  // grad_norm: when given, set to the L2 norm of the gradients as read (before grad_scale),
  // computed in the update's own pass on the CPU: the norm to log when nothing is clipped.
  void step(double lr, const at::Tensor& grad_scale = {}, at::Tensor* grad_norm = nullptr);
  // After torch::load into the optimizer: copy the loaded moments into the flat buffers.
  void adopt_state();
  int64_t steps() const { return step_; }

 private:
  void bind_state();
  torch::optim::Optimizer& opt_;
  const FlatParameters& flat_;
  bool decoupled_;
  double beta1_, beta2_, eps_, weight_decay_;
  at::Tensor exp_avg_, exp_avg_sq_;
  int64_t step_ = 0;
};

struct GradNorm {
  at::Tensor norm;   // global L2 norm of the gradients, before clipping
  at::Tensor scale;  // min(1, max_norm / (norm + 1e-6)): what clipping multiplies them by
};

// The clipping of torch::nn::utils::clip_grad_norm_, as tensors (no read-back, so no device sync).
// The gradients are not touched: pass `scale` to FusedAdam::step, which applies it in its pass.
GradNorm grad_norm_flat(const FlatParameters& flat, double max_norm);

}  // namespace rflow
