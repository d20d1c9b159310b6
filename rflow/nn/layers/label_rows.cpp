#include "rflow/nn/layers/label_rows.h"

#include <torch/torch.h>

namespace rflow {

at::Tensor label_rows(const at::Tensor& labels, const at::Tensor& x, int64_t num_classes) {
  const at::Tensor lab = labels.defined() ? labels.to(x.device(), torch::kInt64)
                                          : torch::full({x.size(0)}, -1, x.options().dtype(torch::kInt64));
  return torch::where(lab < 0, torch::full_like(lab, num_classes), lab);
}

}  // namespace rflow
