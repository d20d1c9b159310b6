#include "rflow/eval/compare.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/eval/distances.h"

namespace rflow::eval {

SampleMetrics compare_samples(const at::Tensor& a, const at::Tensor& b, int64_t projections, uint64_t seed) {
  auto fa = a.detach().to(torch::kCPU, torch::kFloat64).flatten(1);
  auto fb = b.detach().to(torch::kCPU, torch::kFloat64).flatten(1);
  SampleMetrics m;
  m.n = fa.size(0);
  m.w2 = w2_exact(fa, fb);
  m.sliced_w2 = sliced_w2(fa, fb, projections, seed);
  m.energy = energy_distance(fa, fb);
  m.mmd = mmd_rbf(fa, fb);
  return m;
}

std::string to_json(const SampleMetrics& m) {
  return nlohmann::json{{"w2", m.w2}, {"sliced_w2", m.sliced_w2}, {"energy", m.energy}, {"mmd", m.mmd}, {"n", m.n}}
      .dump();
}

}  // namespace rflow::eval
