// Per-class diversity, the check that a sharp but collapsed generator cannot pass: within each
// class, the mean pairwise distance of unit-normalised features (of the independent judge
// network), as a share of the same spread among real test images of that class. 1 = as varied as
// real data; a generator that draws one image per class scores 0 whatever its FID-proxy.
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

namespace rflow::eval {

// features [N, D], classes [N] int64 in [0, num_classes): per class, the mean distance between
// two different members' unit-normalised features (the first max_per_class members); NaN for a
// class with fewer than two.
std::vector<double> class_spread(const at::Tensor& features, const at::Tensor& classes, int64_t num_classes = 10,
                                 int64_t max_per_class = 500);

// The mean over classes where both are finite of spread[c] / reference[c] (NaN if none).
double diversity_ratio(const std::vector<double>& spread, const std::vector<double>& reference);

}  // namespace rflow::eval
