// The pointwise nonlinearities a backbone may be configured with, by name (model.<arch>.activation),
// so that every backbone accepts and checks the same names.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

namespace rflow {

// "silu" | "gelu" | "tanh" | "relu"; throws rflow::Error naming `where` for anything else.
void check_activation(const std::string& name, const std::string& where);
at::Tensor activate(const std::string& name, const at::Tensor& x);

}  // namespace rflow
