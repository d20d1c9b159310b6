// Exponential moving average of a module's parameters (buffers are copied). Teachers, samples and
// evaluations use the EMA weights; the trainer checkpoints them beside the raw weights. For a
// cloneable velocity field the average lives in a frozen clone, which methods read as a target
// network (Consistency-FM) at no extra cost.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>

#include "rflow/flow/velocity_field.h"
#include "rflow/nn/flat_parameters.h"

namespace rflow {

class Ema {
 public:
  // warmup: use min(decay, (1 + n) / (10 + n)) so short runs are not dominated by the init.
  Ema(const torch::nn::Module& model, double decay, bool warmup = true);
  void update(const torch::nn::Module& model);
  // The same, as one whole-model lerp when the model's parameters are flat (the trainer's case).
  void update(const torch::nn::Module& model, const FlatParameters& model_flat);
  void copy_to(torch::nn::Module& model) const;
  // Named tensors in the model's parameter/buffer naming, for checkpoints.
  std::vector<std::pair<std::string, at::Tensor>> state() const;
  void load_state(const std::vector<std::pair<std::string, at::Tensor>>& named, int64_t updates,
                  const std::string& where);
  int64_t updates() const { return updates_; }
  // The averaged model (eval mode, no gradients); nullptr when the model was not a cloneable field.
  VelocityFieldImpl* model() const { return shadow_.get(); }
  double decay() const { return decay_; }

 private:
  double decay_;
  bool warmup_;
  int64_t updates_ = 0;
  std::vector<std::pair<std::string, at::Tensor>> params_, buffers_;
  VelocityField shadow_;
  FlatParameters shadow_flat_;
  double next_weight();
};

}  // namespace rflow
