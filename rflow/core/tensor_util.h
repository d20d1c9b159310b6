// Small tensor helpers every layer needs: broadcasting a per-sample vector against a batch, and
// one way of printing shapes in error messages.
#pragma once

#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace rflow {

// v [B] → [B, 1, 1, ...] so it broadcasts against a batch shaped like `like` ([B, ...]).
at::Tensor expand_like(const at::Tensor& v, const at::Tensor& like);

// "[2, 28, 28]"; "undefined" for an undefined tensor.
std::string shape_str(const at::Tensor& t);
std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace rflow
