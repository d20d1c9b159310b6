// The standard comparison of a generated sample set with a reference set: exact W2 (optimal
// assignment), sliced W2, energy distance and RBF-MMD², computed together so every report and
// `rflow eval` prints the same numbers.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

namespace rflow::eval {

struct SampleMetrics {
  double w2 = 0, sliced_w2 = 0, energy = 0, mmd = 0;
  int64_t n = 0;
};

// a and b: [N, ...] with the same N (≤ 5000 for the exact W2); flattened to [N, D].
SampleMetrics compare_samples(const at::Tensor& a, const at::Tensor& b, int64_t projections = 256, uint64_t seed = 0);
std::string to_json(const SampleMetrics& m);

}  // namespace rflow::eval
