// The VelocityField contract: every backbone (MLP, U-Net, DiT, a wrapped TorchScript module) is a
// torch::nn::Module mapping (x [B, ...], t [B], cond) to a velocity with x's shape. Solvers,
// methods and the trainer only ever see this interface. Backbones derive from CloneableField<Self>,
// so EMA and target copies are clones (torch::nn::Cloneable cannot be mixed in: from LibTorch 2 on,
// Module is no longer a virtual base of it, and the field would hold two Modules).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <torch/nn/module.h>

#include "rflow/flow/cond.h"

namespace rflow {

struct ButcherTableau;  // rflow/solve/butcher.h

// A solve in plain numbers, for fields that run it themselves (VelocityFieldImpl::fast_solve): an
// explicit Runge–Kutta tableau on the grid's time points or, with eta > 0, AdaFlow's
// variance-adaptive Euler over [grid.front(), grid.back()] in at most grid.size() − 1 steps.
struct SolvePlan {
  const ButcherTableau* tableau = nullptr;  // the registered solver's own (eta > 0: unused)
  std::vector<double> grid;  // steps + 1 time points
  double guidance = 1.0;     // classifier-free guidance (labels −1 = none), as guided_field
  double eta = 0.0;          // > 0: step η/σ by the field's variance (the adaflow solver)
};

// What a field's own solve returns: x at the end, and each sample's velocity evaluations [B]
// int64 (undefined: the plan's fixed count).
struct FastSolve {
  at::Tensor x, nfe;
};

namespace detail {
template <class F>
struct CloneArgument;
template <class R, class C, class A>
struct CloneArgument<R (C::*)(A) const> {
  using type = std::decay_t<A>;
};
}  // namespace detail
// Module::clone's argument, whatever this LibTorch's optional is (c10's own up to 1.13, std's later).
using OptionalDevice = detail::CloneArgument<decltype(&torch::nn::Module::clone)>::type;

class VelocityFieldImpl : public torch::nn::Module {
 public:
  VelocityFieldImpl() = default;
  virtual at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const Cond& c) = 0;
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t) { return forward(x, t, Cond{}); }
  // Shape of one sample (without the batch dimension), e.g. {2} or {1, 28, 28}.
  virtual std::vector<int64_t> sample_shape() const = 0;
  // Whether it can be solved in `shape` (a DiT with rotary positions takes any image of its
  // channels whose sides its patch divides: one model across aspect ratios). Data that come in
  // several shapes train only a field that takes each of them.
  virtual bool takes_shape(const std::vector<int64_t>& shape) const { return shape == sample_shape(); }
  // Optional: the whole solve of x0 done by the field itself, where calling forward step by step
  // would be dominated by per-op overhead (small CPU batches of MLPs). Returns an undefined x
  // when it has no such path for these inputs (the solver then steps as usual); otherwise the
  // result, equal to the step-by-step one within float rounding. No autograd.
  virtual FastSolve fast_solve(const at::Tensor& x0, const Cond& cond, const SolvePlan& plan) { return {}; }
  // Optional (AdaFlow): σ(x, t | cond) [B] > 0, the field's own estimate of the RMS error of its
  // velocity at x (σ² ≈ E‖u − v‖², u the target velocity). Where it is small the flow is straight
  // and one Euler step is exact; the adaflow solver sizes its steps by it. Undefined: no estimate.
  virtual at::Tensor variance(const at::Tensor& x, const at::Tensor& t, const Cond& c) { return {}; }

 protected:
  // A copy starts with no parameters, buffers or submodules: CloneableField::clone copies the
  // derived members, lets reset() register fresh modules, then copies the weights in.
  VelocityFieldImpl(const VelocityFieldImpl&) : torch::nn::Module() {}
};

using VelocityField = std::shared_ptr<VelocityFieldImpl>;

// Copies every parameter and buffer of `from` (recursively, by name) into the freshly reset `to`,
// on `device` if given, keeping requires_grad and the training flag. Throws if the names differ.
void copy_field_state(const torch::nn::Module& from, torch::nn::Module& to, const OptionalDevice& device);

// The base of every cloneable backbone (the role of torch::nn::Cloneable<Self>): build the modules
// in reset(), and clone() returns a deep copy with the same weights in separate storage.
template <class Derived>
class CloneableField : public VelocityFieldImpl {
 public:
  virtual void reset() = 0;
  std::shared_ptr<torch::nn::Module> clone(const OptionalDevice& device = {}) const override {
    auto copy = std::make_shared<Derived>(static_cast<const Derived&>(*this));
    copy->reset();
    copy_field_state(*this, *copy, device);
    return copy;
  }
};

// A deep copy (CloneableField): same weights, separate storage, optionally on another
// device. The global RNG state is kept, so a clone never shifts a seeded run's random draws.
// Throws rflow::Error naming the backbone if it is not cloneable.
VelocityField clone_field(const VelocityFieldImpl& field, const std::optional<c10::Device>& device = std::nullopt);

}  // namespace rflow
