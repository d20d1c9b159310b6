#include "rflow/nn/token_decoding.h"

#include <algorithm>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/token_transformer.h"
#include "rflow/text/tokenizer.h"

namespace rflow {

void SamplingOptions::validate(const std::string& where) const {
  RF_CHECK(max_new_tokens >= 1 && max_new_tokens <= 4096, "max_new_tokens must be in 1 … 4096", where + ".max_new_tokens", "");
  RF_CHECK(temperature >= 0, "temperature must be >= 0", where + ".temperature", "0 = greedy");
  RF_CHECK(top_k >= 0, "top_k must be >= 0", where + ".top_k", "0 = all tokens");
  RF_CHECK(top_p > 0 && top_p <= 1, "top_p must be in (0, 1]", where + ".top_p", "1 = all tokens");
}

at::Tensor next_tokens(const at::Tensor& logits, const SamplingOptions& o, at::Generator& gen) {
  if (o.temperature <= 0) return logits.argmax(-1);
  at::Tensor l = logits.to(torch::kFloat32) / o.temperature;
  const int64_t V = l.size(-1);
  if (o.top_k > 0 && o.top_k < V) {
    const at::Tensor kth = std::get<0>(l.topk(o.top_k, -1)).narrow(-1, o.top_k - 1, 1);
    l = l.masked_fill(l < kth, -INFINITY);
  }
  if (o.top_p < 1) {
    const auto [sorted, order] = l.sort(-1, /*descending=*/true);
    const at::Tensor p = sorted.softmax(-1);
    // A token is dropped when the tokens more likely than it already reach top_p.
    const at::Tensor drop = (p.cumsum(-1) - p) >= o.top_p;
    l = l.scatter(-1, order, sorted.masked_fill(drop, -INFINITY));
  }
  return torch::multinomial(l.softmax(-1), 1, false, gen).squeeze(-1);
}

Generated generate_tokens(TokenTransformerImpl& lm, const at::Tensor& prompt, const SamplingOptions& o,
                          const std::vector<int64_t>& stop, at::Generator& gen) {
  RF_CHECK(prompt.dim() == 3 && prompt.size(0) >= 1 && prompt.size(1) >= 1, "the prompt must be embeddings [B, T, D]",
           "generate_tokens", "");
  const int64_t B = prompt.size(0), T0 = prompt.size(1), N = o.max_new_tokens;
  Generated out;
  out.ids = torch::full({B, N}, text::kPad, torch::kInt64);
  out.lengths.assign(size_t(B), N);
  at::Tensor done = torch::zeros({B}, torch::kBool);
  const at::Tensor stops = torch::tensor(stop.empty() ? std::vector<int64_t>{text::kEos} : stop, torch::kInt64);
  std::vector<LatentCache> caches;
  at::Tensor seq = prompt;  // the uncached path's whole sequence
  at::Tensor h = o.cache ? lm.decode_hidden(prompt, caches, T0 + N) : lm.trunk(prompt);
  for (int64_t k = 0; k < N; ++k) {
    at::Tensor tok = next_tokens(lm.logits_of(h.select(1, h.size(1) - 1)), o, gen);
    tok = tok.masked_fill(done, text::kPad);
    out.ids.select(1, k).copy_(tok);
    const at::Tensor hit = torch::isin(tok, stops).logical_and(done.logical_not());
    auto ha = hit.accessor<bool, 1>();
    for (int64_t b = 0; b < B; ++b)
      if (ha[b]) out.lengths[size_t(b)] = k;
    done = done.logical_or(hit);
    out.steps = k + 1;
    if (done.all().item<bool>() || k + 1 == N) break;
    const at::Tensor e = lm.embedding()(tok.unsqueeze(1));
    if (o.cache) {
      h = lm.decode_hidden(e, caches, T0 + N);
    } else {
      seq = torch::cat({seq, e}, 1);
      h = lm.trunk(seq);
    }
  }
  return out;
}

}  // namespace rflow
