// The key under which LibTorch's optimizers keep a parameter's state: a string of its TensorImpl's
// address up to LibTorch 1.13, the address itself from 2 on. Code that reads or adopts optimizer
// state (the fused Adam, tests of checkpoints) finds entries through this one function.
#pragma once

#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

#include <torch/optim/optimizer.h>

namespace rflow {

using OptimizerStateKey = std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;

namespace detail {
template <class Key>  // a template, so that the branch for the other LibTorch is discarded
Key optimizer_state_key(const at::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream s;
    s << p.unsafeGetTensorImpl();
    return s.str();
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}
}  // namespace detail

inline OptimizerStateKey optimizer_state_key(const at::Tensor& p) {
  return detail::optimizer_state_key<OptimizerStateKey>(p);
}

}  // namespace rflow
