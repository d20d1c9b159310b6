#include "rflow/flow/velocity_field.h"

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

void copy_field_state(const torch::nn::Module& from, torch::nn::Module& to, const OptionalDevice& device) {
  torch::NoGradGuard no_grad;
  auto copy = [&](const torch::OrderedDict<std::string, at::Tensor>& src, torch::OrderedDict<std::string, at::Tensor> dst,
                  const char* what) {
    RF_CHECK(src.size() == dst.size(),
             "the reset copy of '" + from.name() + "' has " + std::to_string(dst.size()) + " " + what + ", the original " +
                 std::to_string(src.size()),
             "clone_field", "build every module of the backbone in reset(), from its options alone");
    for (const auto& item : src) {
      at::Tensor* d = dst.find(item.key());
      RF_CHECK(d != nullptr, "the reset copy of '" + from.name() + "' has no " + what + " '" + item.key() + "'",
               "clone_field", "build every module of the backbone in reset(), from its options alone");
      const at::Tensor& v = item.value();
      const bool grad = v.requires_grad();
      d->set_data(device ? v.detach().to(*device, /*non_blocking=*/false, /*copy=*/true) : v.detach().clone());
      if (d->is_leaf()) d->requires_grad_(grad);
    }
  };
  copy(from.named_parameters(true), to.named_parameters(true), "parameters");
  copy(from.named_buffers(true), to.named_buffers(true), "buffers");
  // Each module keeps its own flag; named_modules() lists parents before children, so a parent's
  // recursive train() never overrides a child set after it.
  const auto dst_modules = to.named_modules();
  for (const auto& m : from.named_modules())
    if (const auto* d = dst_modules.find(m.key())) (*d)->train(m.value()->is_training());
}

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
                "derive it from rflow::CloneableField<Self> and build its modules in reset()");
  }
  auto out = std::dynamic_pointer_cast<VelocityFieldImpl>(copy);
  RF_CHECK(out != nullptr, "clone of '" + field.name() + "' is not a velocity field", "clone_field", "");
  return out;
}

}  // namespace rflow
