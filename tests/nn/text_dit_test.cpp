// The DiT with Hunyuan-DiT's two text encoders: masked text positions are the learned padding
// vectors, cross-attention does not care how the text tokens are ordered (keys and values move
// together), the null prompt is all padding, and a text-conditioned DiT learns to tell two captions
// apart.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/dit.h"
#include "rflow/nn/layers/text_encoder.h"
#include "rflow/text/tokenizer.h"

using namespace rflow;

namespace {

DiTOptions text_dit(int64_t char_len) {
  DiTOptions o;
  o.patch = 7, o.hidden = 32, o.depth = 2, o.heads = 2;
  o.text.words = 30, o.text.word_len = 6, o.text.word_dim = 16, o.text.word_layers = 1;
  o.text.char_len = char_len, o.text.char_dim = 8, o.text.char_layers = 1, o.text.heads = 2;
  return o;
}

Cond caption_ids(int64_t B, int64_t words, int64_t chars, int64_t present_words, int64_t present_chars) {
  Cond c;
  c.context = torch::zeros({B, words + chars}, torch::kInt64);
  c.mask = torch::zeros({B, words + chars});
  c.context.narrow(1, 0, present_words).copy_(torch::randint(4, 30, {B, present_words}, torch::kInt64));
  c.mask.narrow(1, 0, present_words).fill_(1);
  c.context.narrow(1, words, present_chars).copy_(torch::randint(4, 260, {B, present_chars}, torch::kInt64));
  c.mask.narrow(1, words, present_chars).fill_(1);
  return c;
}

}  // namespace

TEST(TextDiT, MaskedTextPositionsAreThePaddingVectorsAndTheNullPromptIsAllPadding) {
  torch::manual_seed(0);
  DiTImpl m(text_dit(5), {1, 28, 28});
  const Cond c = caption_ids(3, 6, 5, 4, 3);
  const at::Tensor ctx = m.context_tokens(c, 3);
  ASSERT_EQ(ctx.sizes(), (std::vector<int64_t>{3, 11, 32}));
  const at::Tensor pad = m.named_parameters()["ctx_padding"];
  for (int64_t j : {4, 5, 9, 10}) EXPECT_TRUE(torch::equal(ctx.select(1, j), pad[j].expand({3, 32}))) << j;
  for (int64_t j : {0, 3, 6, 8}) EXPECT_FALSE(torch::allclose(ctx.select(1, j), pad[j].expand({3, 32}))) << j;
  // What is at a masked position does not matter.
  Cond other = c;
  other.context = c.context.clone();
  other.context.narrow(1, 4, 2).fill_(17);
  EXPECT_TRUE(torch::allclose(m.context_tokens(other, 3), ctx, 1e-6, 1e-6));
  const at::Tensor null = m.context_tokens(c.null_like(), 3);
  EXPECT_TRUE(torch::equal(null, pad.unsqueeze(0).expand({3, 11, 32})));
  // Ids outside the vocabulary and contexts of another length say what is wrong.
  Cond bad = c;
  bad.context = c.context.clone();
  bad.context[0][0] = 30;
  EXPECT_THROW(m.context_tokens(bad, 3), Error);
  Cond short_ctx = c;
  short_ctx.context = c.context.narrow(1, 0, 6), short_ctx.mask = c.mask.narrow(1, 0, 6);
  EXPECT_THROW(m.context_tokens(short_ctx, 3), Error);
  DiTOptions both = text_dit(0);
  both.context_dim = 8, both.context_len = 6;
  EXPECT_THROW(both.validate("model.dit"), Error);
}

TEST(TextDiT, CrossAttentionIgnoresTheOrderOfTextTokensMovedWithTheirKeysAndValues) {
  // Rotary positions are on the image queries only: permuting the context tokens (with their
  // padding vectors and mask) permutes keys and values together and changes nothing.
  torch::manual_seed(1);
  DiTOptions o = text_dit(0);
  o.text.words = 0, o.context_dim = 16, o.context_len = 6;  // what DiTImpl gives its blocks
  DiTBlockImpl block(o, /*moe=*/false, /*skip_in=*/false);
  for (auto& p : block.parameters()) p.data().normal_(0.0, 0.2);  // open the adaLN gates
  const at::Tensor x = torch::randn({2, 16, 32}), c = torch::randn({2, 32}), ctx = torch::randn({2, 6, 32});
  const at::Tensor perm = torch::tensor({3, 0, 5, 1, 4, 2}, torch::kInt64);
  const at::Tensor a = block.forward(x, c, {}, ctx, {}), b = block.forward(x, c, {}, ctx.index_select(1, perm), {});
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-5));
  // The test can fail: another context does change the output.
  EXPECT_FALSE(torch::allclose(a, block.forward(x, c, {}, torch::randn({2, 6, 32}), {}), 1e-3, 1e-3));
}

TEST(TextEncoder, PaddingKeysAreNotReadAndTheLengthIsChecked) {
  torch::manual_seed(2);
  TextEncoderImpl enc(TextEncoderOptions{20, 8, 16, 2, 4});
  at::Tensor ids = torch::randint(4, 20, {2, 8}, torch::kInt64);
  at::Tensor mask = torch::ones({2, 8});
  mask.narrow(1, 5, 3).zero_();
  const at::Tensor a = enc.forward(ids, mask);
  at::Tensor other = ids.clone();
  other.narrow(1, 5, 3).fill_(7);
  const at::Tensor b = enc.forward(other, mask);
  // Present tokens never look at padding; only the padding positions themselves change.
  EXPECT_TRUE(torch::allclose(a.narrow(1, 0, 5), b.narrow(1, 0, 5), 1e-5, 1e-5));
  EXPECT_FALSE(torch::allclose(a.narrow(1, 5, 3), b.narrow(1, 5, 3), 1e-3, 1e-3));
  EXPECT_THROW(enc.forward(torch::zeros({1, 9}, torch::kInt64)), Error);
  EXPECT_THROW(enc.forward(torch::full({1, 3}, 20, torch::kInt64)), Error);
}
