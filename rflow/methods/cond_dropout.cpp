#include "rflow/methods/cond_dropout.h"

#include <torch/torch.h>

namespace rflow {

Cond drop_conditioning(const Cond& c, double p) {
  if (p <= 0 || !c.nullable()) return c;
  const int64_t B = c.batch_size();
  const c10::Device dev = c.labels.defined() ? c.labels.device() : c.context.device();
  const at::Tensor drop = torch::rand({B}, torch::TensorOptions().device(dev)) < p;
  Cond out = c;
  const Cond null = c.null_like();
  auto rows = [&](const at::Tensor& keep, const at::Tensor& nulled) {
    std::vector<int64_t> shape(keep.dim(), 1);
    shape[0] = B;
    return torch::where(drop.view(shape), nulled, keep);
  };
  if (c.labels.defined()) out.labels = rows(c.labels, null.labels);
  if (c.context.defined()) out.context = rows(c.context, null.context);
  if (c.mask.defined()) out.mask = rows(c.mask, null.mask);
  return out;
}

}  // namespace rflow
