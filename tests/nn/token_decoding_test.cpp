// Decoding: the sampling rules against hand-made distributions (greedy, top-k, top-p), decoding
// with the MLA latent cache equal to recomputing the whole sequence, and rows of a batch stopping
// on their own stop tokens.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/nn/token_decoding.h"
#include "rflow/nn/token_transformer.h"
#include "rflow/text/tokenizer.h"

using namespace rflow;

namespace {

std::vector<double> frequencies(const at::Tensor& logits, const SamplingOptions& o, int64_t draws) {
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(11);
  const at::Tensor picks = next_tokens(logits.expand({draws, logits.size(0)}).contiguous(), o, g);
  std::vector<double> f(size_t(logits.size(0)), 0.0);
  for (int64_t i = 0; i < draws; ++i) f[size_t(picks[i].item<int64_t>())] += 1.0 / double(draws);
  return f;
}

TokenTransformerOptions small_lm() {
  TokenTransformerOptions o;
  o.vocab = 40, o.dim = 32, o.layers = 3, o.dense_layers = 1, o.dense_hidden = 64;
  o.mla.heads = 2, o.mla.kv_rank = 8, o.mla.nope_dim = 8, o.mla.rope_dim = 4, o.mla.v_dim = 8;
  o.moe.routed = 4, o.moe.top_k = 2, o.moe.hidden = 32;
  return o;
}

}  // namespace

TEST(TokenDecoding, SamplingRulesOnAKnownDistribution) {
  const at::Tensor logits = torch::tensor({0.5, 0.3, 0.2, 0.0}).log().to(torch::kFloat32);  // p = .5 .3 .2 0
  SamplingOptions o;
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(1);
  EXPECT_EQ(next_tokens(logits.unsqueeze(0), o, g).item<int64_t>(), 0);  // greedy
  o.temperature = 1.0;
  auto f = frequencies(logits, o, 40000);
  EXPECT_NEAR(f[0], 0.5, 0.01);
  EXPECT_NEAR(f[1], 0.3, 0.01);
  EXPECT_NEAR(f[2], 0.2, 0.01);
  o.top_k = 2;  // renormalised over the two most likely: .625 / .375
  f = frequencies(logits, o, 40000);
  EXPECT_NEAR(f[0], 0.625, 0.01);
  EXPECT_NEAR(f[1], 0.375, 0.01);
  EXPECT_EQ(f[2], 0.0);
  o.top_k = 0, o.top_p = 0.7;  // .5 < .7 keeps the second; .8 ≥ .7 drops the third
  f = frequencies(logits, o, 40000);
  EXPECT_NEAR(f[0], 0.625, 0.01);
  EXPECT_NEAR(f[1], 0.375, 0.01);
  EXPECT_EQ(f[2], 0.0);
  o.top_p = 0.1;  // the most likely token always stays
  f = frequencies(logits, o, 1000);
  EXPECT_NEAR(f[0], 1.0, 1e-9);
  o.top_p = 1.0, o.temperature = 0.25;  // sharper: p ∝ p^4
  f = frequencies(logits, o, 40000);
  const double z = std::pow(.5, 4) + std::pow(.3, 4) + std::pow(.2, 4);
  EXPECT_NEAR(f[0], std::pow(.5, 4) / z, 0.01);
}

TEST(TokenDecoding, CachedDecodingEqualsRecomputingAndRowsStopOnTheirOwn) {
  torch::manual_seed(3);
  TokenTransformer lm(small_lm());
  lm->eval();
  torch::NoGradGuard ng;
  const at::Tensor prompt = torch::randn({5, 7, 32});
  SamplingOptions o;
  o.max_new_tokens = 12;
  at::Generator g1 = at::make_generator<at::CPUGeneratorImpl>(0), g2 = at::make_generator<at::CPUGeneratorImpl>(0);
  const Generated full = generate_tokens(*lm, prompt, o, {}, g1);
  o.cache = false;
  const Generated recomputed = generate_tokens(*lm, prompt, o, {}, g2);
  EXPECT_TRUE(torch::equal(full.ids, recomputed.ids)) << full.ids << recomputed.ids;
  // Stop on whatever row 0 says second: row 0 stops there, others where that token first comes.
  const int64_t stop = full.ids[0][1].item<int64_t>();
  o.cache = true;
  at::Generator g3 = at::make_generator<at::CPUGeneratorImpl>(0);
  const Generated stopped = generate_tokens(*lm, prompt, o, {stop}, g3);
  for (int64_t b = 0; b < 5; ++b) {
    int64_t first = 12;
    for (int64_t k = 0; k < 12 && first == 12; ++k)
      if (full.ids[b][k].item<int64_t>() == stop) first = k;
    EXPECT_EQ(stopped.lengths[size_t(b)], first) << b;
    for (int64_t k = 0; k < 12; ++k) {
      const int64_t want = k <= first ? full.ids[b][k].item<int64_t>() : text::kPad;
      EXPECT_EQ(stopped.ids[b][k].item<int64_t>(), want) << b << " " << k;
    }
  }
  EXPECT_EQ(stopped.lengths[0], 1);
}
