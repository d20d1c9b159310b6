// Multi-head latent attention: the absorbed decode from the latent cache equals the expanded
// computation (one token at a time, in chunks, with and without query compression), the cache is
// the latent alone, attention is causal, and only position offsets matter; an open tail of tokens
// attends both ways, in the expanded and the absorbed path alike.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/layers/mla.h"

using namespace rflow;

namespace {
MLAOptions mla_small(int64_t q_rank) {
  MLAOptions o;
  o.heads = 4, o.q_rank = q_rank, o.kv_rank = 16, o.nope_dim = 16, o.rope_dim = 8, o.v_dim = 12;
  return o;
}
}  // namespace

TEST(Mla, AbsorbedLatentDecodeEqualsTheExpandedAttention) {
  for (int64_t q_rank : {0, 32}) {
    torch::manual_seed(2);
    MLA m(64, mla_small(q_rank));
    m->to(torch::kFloat64);
    const auto x = torch::randn({2, 9, 64}, torch::kFloat64);
    const auto full = m->forward(x);
    // Prefill three tokens, then one at a time.
    LatentCache cache;
    std::vector<at::Tensor> parts{m->decode(x.slice(1, 0, 3), cache, 16)};
    for (int64_t t = 3; t < 9; ++t) parts.push_back(m->decode(x.slice(1, t, t + 1), cache, 16));
    EXPECT_TRUE(torch::allclose(torch::cat(parts, 1), full, 1e-10, 1e-10)) << "q_rank " << q_rank;
    // Two chunks equal one shot.
    LatentCache c2;
    const auto a = m->decode(x.slice(1, 0, 5), c2, 9), b = m->decode(x.slice(1, 5, 9), c2, 9);
    EXPECT_TRUE(torch::allclose(torch::cat({a, b}, 1), full, 1e-10, 1e-10)) << "q_rank " << q_rank;
    // The cache holds the latent and the shared rotary key only.
    EXPECT_EQ(cache.latent.sizes(), (std::vector<int64_t>{2, 16, 16}));
    EXPECT_EQ(cache.rope_key.sizes(), (std::vector<int64_t>{2, 16, 8}));
    EXPECT_EQ(cache.length, 9);
    EXPECT_EQ(cache.bytes_per_token(), (16 + 8) * 8);
    EXPECT_EQ(m->options().latent_cache_floats(), 24);
    EXPECT_EQ(m->options().mha_cache_floats(), 4 * (16 + 8 + 12));
    EXPECT_THROW(m->decode(x.slice(1, 0, 1), c2, 9), Error);  // full
  }
  // DeepSeek-V3's shape: 512 + 64 cached floats per token instead of 128 · (128 + 64 + 128).
  MLAOptions v3;
  v3.heads = 128, v3.q_rank = 1536, v3.kv_rank = 512, v3.nope_dim = 128, v3.rope_dim = 64, v3.v_dim = 128;
  EXPECT_EQ(v3.latent_cache_floats(), 576);
  EXPECT_EQ(v3.mha_cache_floats(), 40960);
  // In float the two paths agree to rounding.
  torch::manual_seed(3);
  MLA f(64, mla_small(0));
  const auto x = torch::randn({1, 7, 64});
  LatentCache cache;
  EXPECT_TRUE(torch::allclose(f->decode(x, cache, 7), f->forward(x), 1e-5, 1e-5));
}

TEST(Mla, IsCausalAndSeesOnlyPositionOffsets) {
  torch::manual_seed(4);
  MLA m(64, mla_small(0));
  m->to(torch::kFloat64);
  const auto x = torch::randn({1, 8, 64}, torch::kFloat64);
  const auto y = m->forward(x);
  auto x2 = x.clone();
  x2[0][5] += 1.0;
  const auto y2 = m->forward(x2);
  EXPECT_TRUE(torch::allclose(y.slice(1, 0, 5), y2.slice(1, 0, 5), 1e-12, 1e-12));
  EXPECT_FALSE(torch::allclose(y.slice(1, 5, 8), y2.slice(1, 5, 8), 1e-6, 1e-6));
  // Every position shifted by 100: the same outputs (rotary keys carry offsets only).
  EXPECT_TRUE(torch::allclose(m->forward(x, 100), y, 1e-9, 1e-9));
  // Gradients reach every weight, and one of them agrees with a finite difference.
  auto loss = m->forward(x).pow(2).sum();
  loss.backward();
  for (const auto& p : m->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
  auto w = m->named_parameters()["wkv_b.weight"];
  const double g = w.grad()[3][2].item<double>(), h = 1e-6;
  torch::NoGradGuard ng;
  w[3][2] += h;
  const double up = m->forward(x).pow(2).sum().item<double>();
  w[3][2] -= 2 * h;
  const double down = m->forward(x).pow(2).sum().item<double>();
  EXPECT_NEAR((up - down) / (2 * h), g, 1e-6 * std::max(1.0, std::abs(g)));
}

TEST(Mla, OpenTailAttendsBothWaysBehindACausalPrefix) {
  torch::manual_seed(6);
  MLA m(64, mla_small(0));
  m->to(torch::kFloat64);
  const auto x = torch::randn({2, 8, 64}, torch::kFloat64);
  const auto y = m->forward(x, 0, 3);
  auto x2 = x.clone();
  x2.select(1, 6).add_(1.0);
  const auto y2 = m->forward(x2, 0, 3);
  // Tokens 5 … 7 are the open block: token 5 sees token 6, the prefix 0 … 4 does not.
  EXPECT_TRUE(torch::allclose(y.slice(1, 0, 5), y2.slice(1, 0, 5), 1e-12, 1e-12));
  EXPECT_FALSE(torch::allclose(y.slice(1, 5, 6), y2.slice(1, 5, 6), 1e-6, 1e-6));
  // Causal up to the block: open_tail 0 is the plain causal attention.
  EXPECT_TRUE(torch::allclose(m->forward(x, 0, 0), m->forward(x), 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(y.slice(1, 0, 5), m->forward(x).slice(1, 0, 5), 1e-12, 1e-12));
  // The absorbed decode of the block after a cached prefix equals the expanded one.
  LatentCache cache;
  const auto a = m->decode(x.slice(1, 0, 5), cache, 8), b = m->decode(x.slice(1, 5, 8), cache, 8, 3);
  EXPECT_TRUE(torch::allclose(torch::cat({a, b}, 1), y, 1e-10, 1e-10));
  LatentCache c2;
  m->decode(x.slice(1, 0, 6), c2, 8);
  EXPECT_THROW(m->decode(x.slice(1, 6, 8), c2, 8, 3), Error);  // the block is longer than the chunk
}
