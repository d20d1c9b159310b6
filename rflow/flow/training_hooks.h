// An optional second interface of a velocity field that needs the trainer's help beyond its
// gradient: a loss of its own added to the method's (a mixture-of-experts balance loss) and work
// after each optimiser step (DeepSeek-V3's routing-bias update). The trainer looks for it with a
// dynamic_cast, so backbones without such needs implement nothing.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace rflow {

class TrainingHooks {
 public:
  virtual ~TrainingHooks() = default;
  // The field's own loss from the training forwards since the last call (undefined: none); taking
  // it clears it, so forwards that the method makes without training (an EMA target) never count.
  virtual at::Tensor auxiliary_loss() { return {}; }
  // Called once after each optimiser step, before the EMA update (which copies buffers it changes);
  // scalars to log beside the loss (metrics.jsonl).
  virtual std::map<std::string, at::Tensor> after_step() { return {}; }
  // Counters the field gathers over a step's training forwards (MoE expert loads): in a
  // data-parallel run each is summed over the ranks, in place, before after_step(), so every rank
  // makes the same update from them.
  virtual std::vector<at::Tensor> summed_statistics() { return {}; }
};

}  // namespace rflow
