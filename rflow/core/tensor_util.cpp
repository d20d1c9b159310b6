#include "rflow/core/tensor_util.h"

#include <torch/torch.h>

namespace rflow {

at::Tensor expand_like(const at::Tensor& v, const at::Tensor& like) {
  std::vector<int64_t> shape(std::max<int64_t>(like.dim(), 1), 1);
  shape[0] = v.size(0);
  return v.view(shape);
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string shape_str(const at::Tensor& t) {
  if (!t.defined()) return "undefined";
  return shape_str(std::vector<int64_t>(t.sizes().begin(), t.sizes().end()));
}

}  // namespace rflow
