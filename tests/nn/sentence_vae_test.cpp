// The sentence autoencoder: the KL term and free bits against their formulas, cached and uncached
// greedy decoding equal, the MLA cache smaller than multi-head attention's, and a tiny corpus
// reconstructed exactly after a short training.
#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/language/autoencoder_training.h"
#include "rflow/nn/sentence_vae.h"
#include "rflow/text/tokenizer.h"

using namespace rflow;

TEST(SentenceVae, KlAndFreeBitsFollowTheirFormulas) {
  // KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² − 1 − log σ²) per dimension, averaged over the batch.
  const at::Tensor mu = torch::tensor({{1.0f, 0.0f}, {3.0f, 0.0f}});
  const at::Tensor logvar = torch::tensor({{0.0f, std::log(4.0f)}, {0.0f, std::log(4.0f)}});
  const at::Tensor kl = kl_per_dimension(mu, logvar);
  EXPECT_NEAR(kl[0].item<double>(), 0.5 * (1 + 9) / 2, 1e-6);
  EXPECT_NEAR(kl[1].item<double>(), 0.5 * (4 - 1 - std::log(4.0)), 1e-6);
  EXPECT_NEAR(free_bits_kl(kl, 0.0).item<double>(), kl.sum().item<double>(), 1e-6);
  EXPECT_NEAR(free_bits_kl(kl, 1.0).item<double>(), 2.5 + 1.0, 1e-6);  // the second dimension (0.81) is lifted to λ
  EXPECT_NEAR(kl_per_dimension(torch::zeros({3, 4}), torch::zeros({3, 4})).sum().item<double>(), 0.0, 1e-7);
  // Free bits give no gradient to a dimension below λ.
  at::Tensor lv = torch::zeros({1, 2}, torch::requires_grad());
  free_bits_kl(kl_per_dimension(torch::tensor({{0.1f, 2.0f}}), lv), 0.5).backward();
  EXPECT_EQ(lv.grad()[0][0].item<float>(), 0.0f);
}

TEST(SentenceVae, DecodingWithAndWithoutTheCacheIsEqual) {
  torch::manual_seed(3);
  SentenceVAEOptions o;
  o.vocab = 40, o.max_len = 12, o.dim = 32, o.heads = 4, o.latents = 2, o.latent_dim = 4;
  SentenceVAE vae(o);
  vae->eval();
  torch::NoGradGuard ng;
  const at::Tensor z = torch::randn({6, 8}) * 3;
  const at::Tensor a = vae->decode_greedy(z, true), b = vae->decode_greedy(z, false);
  EXPECT_TRUE(torch::equal(a, b)) << a << b;
  EXPECT_GE(a.size(1), 2);
  // The latent cache holds fewer floats per token than plain multi-head attention would.
  EXPECT_LT(vae->cache_floats_per_token(), vae->mha_cache_floats_per_token());
}

TEST(SentenceVae, ATinyCorpusIsReconstructedExactly) {
  torch::manual_seed(0);
  const std::vector<std::string> corpus{"the food was cold", "the staff is friendly", "the room looked dirty at night",
                                        "i think the coffee is fresh", "overall , the view was lovely",
                                        "the music seems noisy and the waiter is rude"};
  text::TokenizerOptions to;
  auto tok = text::train_tokenizer(corpus, to);
  SentenceVAEOptions o;
  o.vocab = tok->vocab_size(), o.max_len = 12, o.dim = 64, o.latents = 2, o.latent_dim = 8;
  SentenceVAE vae(o);
  const EncodedSentences e = encode_sentences(*tok, corpus, o.max_len, "tiny corpus");
  torch::optim::Adam adam(vae->parameters(), 3e-3);
  for (int step = 0; step < 300; ++step) {
    const VaeLosses l = vae->losses(e.ids, e.mask, torch::randn({6, 16}), 0.0);
    adam.zero_grad();
    (l.reconstruction + 0.01 * l.kl_free_bits).backward();
    adam.step();
  }
  vae->eval();
  torch::NoGradGuard ng;
  const auto out = decode_sentences(*tok, vae->decode_greedy(vae->encode(e.ids, e.mask).mu));
  for (size_t i = 0; i < corpus.size(); ++i) EXPECT_EQ(out[i], corpus[i]);
  // Too long a sentence is refused naming it.
  try {
    encode_sentences(*tok, {"the food was cold the food was cold the food was cold"}, o.max_len, "input");
    FAIL() << "over-long sentence accepted";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("longer than"), std::string::npos) << err.what();
  }
}
