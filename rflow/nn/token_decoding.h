// Autoregressive decoding of a DeepSeek-style token transformer after a prompt given as input
// embeddings (text with image tokens spliced in): greedy or sampled (temperature, top-k, top-p),
// stopped per row at a stop token, batched, with the MLA latent KV cache (prefill once, then one
// token a step) or, for checking it, by recomputing the whole sequence every step.
#pragma once

#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace rflow {

class TokenTransformerImpl;

struct SamplingOptions {
  int64_t max_new_tokens = 24;
  double temperature = 0.0;  // 0 = greedy
  int64_t top_k = 0;         // 0 = every token
  double top_p = 1.0;        // nucleus: the smallest set of tokens whose probability reaches top_p
  bool cache = true;         // false: recompute every step (the reference the cache must equal)

  template <class V>
  void visit(V& v) {
    v("max_new_tokens", max_new_tokens, "tokens generated at most per answer");
    v("temperature", temperature, "0 = greedy; > 0 samples from softmax(logits / temperature)");
    v("top_k", top_k, "sample among the k most likely tokens only (0 = all)");
    v("top_p", top_p, "sample among the smallest set of tokens whose probability reaches top_p (1 = all)");
    v("cache", cache, "keep the MLA latent KV cache (false recomputes the whole sequence each token)");
  }
  void validate(const std::string& where) const;
};

// The next token of each row from logits [B, V]: the argmax when temperature is 0, else a draw
// from softmax(logits / temperature) over the top_k tokens and the top_p nucleus (the most likely
// token always stays in).
at::Tensor next_tokens(const at::Tensor& logits, const SamplingOptions& o, at::Generator& gen);

struct Generated {
  at::Tensor ids;  // [B, max_new_tokens]: each row's tokens up to and including its stop token, then pad
  std::vector<int64_t> lengths;  // tokens before the stop token (max_new_tokens when none came)
  int64_t steps = 0;             // decoding steps taken (all rows stopped, or max_new_tokens)
};
// Decodes after prompt embeddings [B, T0, D]; rows stop independently at any of `stop`.
Generated generate_tokens(TokenTransformerImpl& lm, const at::Tensor& prompt, const SamplingOptions& o,
                          const std::vector<int64_t>& stop, at::Generator& gen);

}  // namespace rflow
