#include "rflow/flow/path.h"

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

at::Tensor expand_time(const at::Tensor& t, const at::Tensor& like) {
  std::vector<int64_t> shape(like.dim(), 1);
  shape[0] = t.size(0);
  return t.view(shape);
}

PathSample LinearPath::sample(const at::Tensor& x0, const at::Tensor& x1, const at::Tensor& t) const {
  RF_CHECK(x0.sizes() == x1.sizes(), "x0 and x1 shapes differ", "LinearPath::sample",
           "source and target samples must have the same shape");
  RF_CHECK(t.dim() == 1 && t.size(0) == x0.size(0), "t must be [B]", "LinearPath::sample", "");
  auto te = expand_time(t, x0);
  // x0 + t (x1 − x0) is the same point with one fewer temporary.
  auto target = x1 - x0;
  return {torch::addcmul(x0, te, target), target};
}

std::unique_ptr<Path> make_path(const std::string& name) {
  if (name == "linear") return std::make_unique<LinearPath>();
  throw Error("unknown path '" + name + "'", "method.path", "valid: linear");
}

}  // namespace rflow
