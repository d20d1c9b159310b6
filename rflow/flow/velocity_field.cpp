#include "rflow/flow/velocity_field.h"

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

VelocityField clone_field(const VelocityFieldImpl& field, const std::optional<c10::Device>& device) {
  // reset() re-initialises the copy before its weights are overwritten: that must not consume
  // the draws of the run that asked for the copy.
  struct KeepRng {
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    at::Tensor state = gen.get_state();
    ~KeepRng() { gen.set_state(state); }
  } keep;
  std::shared_ptr<torch::nn::Module> copy;
  try {
    copy = device ? field.clone(*device) : field.clone();
  } catch (const c10::Error&) {
    throw Error("backbone '" + field.name() + "' cannot be cloned", "clone_field",
                "derive it from torch::nn::Cloneable<Self> and build its modules in reset()");
  }
  auto out = std::dynamic_pointer_cast<VelocityFieldImpl>(copy);
  RF_CHECK(out != nullptr, "clone of '" + field.name() + "' is not a velocity field", "clone_field", "");
  return out;
}

}  // namespace rflow
