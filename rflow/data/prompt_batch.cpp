#include "rflow/data/prompt_batch.h"

#include <algorithm>

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

Cond prompts_in_turn(const Distribution& target, const std::vector<std::string>& prompts, int64_t offset, int64_t n,
                     const std::string& where) {
  const int64_t P = static_cast<int64_t>(prompts.size()), L = target.context_len();
  RF_CHECK(L > 0, target.describe() + " has no captions", where,
           "prompts condition models trained on captioned data (fashion_composites)");
  RF_CHECK(P > 0, "no prompts", where, "e.g. \"a bag left of a sneaker\" (\"\" = unconditional)");
  std::vector<std::string> texts;
  for (const auto& p : prompts)
    if (!p.empty()) texts.push_back(p);
  const Cond given = texts.empty() ? Cond{} : target.encode_prompts(texts);  // checks every prompt
  Cond out;
  out.context = torch::zeros({n, L}, torch::kInt64);
  out.mask = torch::zeros({n, L});
  for (int64_t i = 0; i < n; ++i) {
    const std::string& p = prompts[static_cast<size_t>((offset + i) % P)];
    if (p.empty()) continue;
    const int64_t j = static_cast<int64_t>(std::find(texts.begin(), texts.end(), p) - texts.begin());
    out.context[i].copy_(given.context[j]), out.mask[i].copy_(given.mask[j]);
  }
  return out;
}

std::vector<int64_t> shape_of_prompts(const Distribution& target, const std::vector<std::string>& prompts,
                                      std::vector<int64_t> fallback, const std::string& where) {
  std::string first;
  for (const auto& p : prompts) {
    if (p.empty()) continue;
    const std::vector<int64_t> s = target.prompt_shape(p);  // refuses a layout the data do not draw
    RF_CHECK(first.empty() || s == fallback,
             "'" + first + "' and '" + p + "' ask for images of different layouts (" + target.shape_name(fallback) + ", " +
                 target.shape_name(s) + ")",
             where, "sample prompts of one layout per call");
    if (first.empty()) first = p, fallback = s;
  }
  return fallback;
}

}  // namespace rflow
