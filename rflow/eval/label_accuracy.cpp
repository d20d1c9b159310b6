#include "rflow/eval/label_accuracy.h"

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow::eval {

double nearest_label_accuracy(const at::Tensor& samples, const at::Tensor& labels, const at::Tensor& reference,
                              const at::Tensor& reference_labels) {
  RF_CHECK(samples.size(0) == labels.size(0) && reference.size(0) == reference_labels.size(0) && samples.size(0) > 0 &&
               reference.size(0) > 0,
           "samples and labels disagree in count (or are empty)", "label accuracy", "");
  auto a = samples.flatten(1).to(torch::kFloat64).cpu(), b = reference.flatten(1).to(torch::kFloat64).cpu();
  auto nearest = torch::cdist(a, b).argmin(1);
  auto predicted = reference_labels.cpu().index_select(0, nearest);
  return predicted.eq(labels.cpu()).to(torch::kFloat64).mean().item<double>();
}

}  // namespace rflow::eval
