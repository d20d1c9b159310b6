// The DeepSeek-style token model: incremental decoding through every block's latent cache equals
// one causal forward, and multi-token prediction is aligned (depth k scores token i + k + 1),
// shares the embedding and head, leaves the main logits alone, trains the trunk and learns a
// sequence whose token two ahead is a function of the current one.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/layers/mtp.h"
#include "rflow/nn/token_transformer.h"

using namespace rflow;

namespace {
TokenTransformerOptions lm_small(int64_t mtp_depth) {
  TokenTransformerOptions o;
  o.vocab = 20, o.dim = 32, o.layers = 2, o.dense_layers = 1, o.dense_hidden = 64;
  o.mla.heads = 2, o.mla.kv_rank = 8, o.mla.nope_dim = 8, o.mla.rope_dim = 4, o.mla.v_dim = 8;
  o.moe.routed = 4, o.moe.shared = 1, o.moe.top_k = 2, o.moe.hidden = 16;
  o.mtp_depth = mtp_depth;
  return o;
}
}  // namespace

TEST(TokenTransformer, CachedDecodingEqualsTheFullForward) {
  torch::manual_seed(10);
  TokenTransformer m(lm_small(0));
  m->to(torch::kFloat64);
  m->eval();
  const auto tokens = torch::randint(16, {2, 10}, torch::kInt64);
  const auto full = m->forward(tokens);
  std::vector<LatentCache> caches;
  std::vector<at::Tensor> parts{m->decode(tokens.slice(1, 0, 4), caches, 10)};
  for (int64_t t = 4; t < 10; ++t) parts.push_back(m->decode(tokens.slice(1, t, t + 1), caches, 10));
  EXPECT_TRUE(torch::allclose(torch::cat(parts, 1), full, 1e-10, 1e-10));
  EXPECT_EQ(caches.size(), 2u);
}

TEST(TokenTransformer, MultiTokenPredictionIsAlignedSharedAndTrainsTheTrunk) {
  torch::manual_seed(11);
  TokenTransformer m(lm_small(2));
  const auto tokens = torch::randint(16, {3, 9}, torch::kInt64);
  TokenLosses l = m->losses(tokens);
  ASSERT_EQ(l.mtp.size(), 2u);
  // Recompute depth 1 and 2 by hand: module k reads h^{k−1}[0 … T−k−2] and Emb(t[k …]).
  auto mods = m->named_children()["mtp"]->children();
  const auto h = m->hidden(tokens);
  const auto h1 = mods[0]->as<MtpModuleImpl>()->forward(h.slice(1, 0, 7), m->embedding()(tokens.slice(1, 1, 8)));
  const auto ce1 = torch::nn::functional::cross_entropy(m->logits_of(h1).reshape({-1, 20}), tokens.slice(1, 2, 9).reshape({-1}));
  EXPECT_NEAR(l.mtp[0].item<double>(), ce1.item<double>(), 1e-5);
  const auto h2 = mods[1]->as<MtpModuleImpl>()->forward(h1.slice(1, 0, 6), m->embedding()(tokens.slice(1, 2, 8)));
  const auto ce2 = torch::nn::functional::cross_entropy(m->logits_of(h2).reshape({-1, 20}), tokens.slice(1, 3, 9).reshape({-1}));
  EXPECT_NEAR(l.mtp[1].item<double>(), ce2.item<double>(), 1e-5);
  EXPECT_NEAR(l.total.item<double>(), (l.main + (l.mtp[0] + l.mtp[1]) * (0.3 / 2)).item<double>(), 1e-5);
  // The modules own no embedding or head of their own: one table and one head [20, 32] in the model.
  int64_t tables = 0;
  for (const auto& p : m->named_parameters())
    if (p.value().sizes() == m->embedding()->weight.sizes()) ++tables;
  EXPECT_EQ(tables, 2);
  // The main logits do not depend on the modules: the same as a model without them.
  torch::manual_seed(11);
  TokenTransformer plain(lm_small(0));
  EXPECT_TRUE(torch::allclose(plain->forward(tokens), m->forward(tokens)));
  // The MTP loss alone sends gradient into the trunk.
  l.mtp[0].backward();
  const auto g = m->named_parameters()["block0.attn.wkv_a.weight"].grad();
  ASSERT_TRUE(g.defined());
  EXPECT_GT(g.abs().sum().item<double>(), 0.0);
  EXPECT_THROW(m->losses(tokens.slice(1, 0, 3)), Error);  // too short for two modules
}

TEST(TokenTransformer, LearnsATokenTwoAheadWithMultiTokenPrediction) {
  // t_{i+2} = (t_i + 3) mod 16, the first two drawn at random: one module can predict it exactly.
  torch::manual_seed(12);
  TokenTransformerOptions o = lm_small(1);
  o.moe.bias_rate = 1e-2;
  TokenTransformer m(o);
  m->train();
  torch::optim::AdamW opt(m->parameters(), torch::optim::AdamWOptions(3e-3).weight_decay(0.0));
  auto batch = [] {
    auto t = torch::zeros({32, 12}, torch::kInt64);
    t.slice(1, 0, 2).copy_(torch::randint(16, {32, 2}, torch::kInt64));
    for (int64_t i = 2; i < 12; ++i) t.select(1, i).copy_((t.select(1, i - 2) + 3).remainder(16));
    return t;
  };
  double first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    TokenLosses l = m->losses(batch());
    opt.zero_grad();
    l.total.backward();
    opt.step();
    m->update_routing();
    if (step == 0) first = l.mtp[0].item<double>();
    last = l.mtp[0].item<double>();
  }
  EXPECT_GT(first, 2.0);   // ln 16 ≈ 2.77 at the start
  EXPECT_LT(last, 0.15);   // every target of depth 1 is determined
}
