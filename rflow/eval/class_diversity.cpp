#include "rflow/eval/class_diversity.h"

#include <cmath>

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow::eval {

std::vector<double> class_spread(const at::Tensor& features, const at::Tensor& classes, int64_t num_classes,
                                 int64_t max_per_class) {
  RF_CHECK(features.dim() == 2 && classes.dim() == 1 && classes.size(0) == features.size(0),
           "class_spread needs features [N, D] and classes [N]", "class diversity", "");
  torch::NoGradGuard ng;
  const at::Tensor f = features.to(torch::kCPU, torch::kFloat64);
  const at::Tensor unit = f / (f.norm(2, 1, true) + 1e-12);
  const at::Tensor y = classes.to(torch::kCPU, torch::kInt64);
  std::vector<double> out(static_cast<size_t>(num_classes), std::nan(""));
  for (int64_t c = 0; c < num_classes; ++c) {
    at::Tensor idx = (y == c).nonzero().squeeze(1);
    if (idx.numel() > max_per_class) idx = idx.slice(0, 0, max_per_class);
    const int64_t n = idx.numel();
    if (n < 2) continue;
    const at::Tensor m = unit.index_select(0, idx);
    // The diagonal is zero: the sum over all pairs divided by the n(n − 1) off-diagonal ones.
    out[static_cast<size_t>(c)] = torch::cdist(m, m).sum().item<double>() / double(n * (n - 1));
  }
  return out;
}

double diversity_ratio(const std::vector<double>& spread, const std::vector<double>& reference) {
  double sum = 0;
  int count = 0;
  for (size_t c = 0; c < spread.size() && c < reference.size(); ++c)
    if (std::isfinite(spread[c]) && std::isfinite(reference[c]) && reference[c] > 0) sum += spread[c] / reference[c], ++count;
  return count ? sum / count : std::nan("");
}

}  // namespace rflow::eval
