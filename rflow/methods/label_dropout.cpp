#include "rflow/methods/label_dropout.h"

#include <torch/torch.h>

namespace rflow {

at::Tensor drop_labels(const at::Tensor& labels, double p) {
  if (!labels.defined() || p <= 0) return labels;
  auto drop = torch::rand({labels.size(0)}, labels.options().dtype(torch::kFloat32)) < p;
  return torch::where(drop, torch::full_like(labels, -1), labels);
}

}  // namespace rflow
