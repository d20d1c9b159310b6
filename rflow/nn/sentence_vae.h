// A sentence autoencoder whose latent is a fixed-size vector, the space Language RF moves sentences
// in: a bidirectional transformer encoder, K learned queries pooling its states into K latent
// vectors (a Gaussian posterior: mean and log-variance), and an autoregressive decoder of DeepSeek
// blocks (MLA, SwiGLU) that reads the latent as K prefix tokens and decodes greedily with the
// latent KV cache. The KL term has free bits (per dimension, batch-averaged) and a weight β.
#pragma once

#include <string>
#include <vector>

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include "rflow/nn/layers/rms_norm.h"
#include "rflow/nn/layers/text_encoder.h"
#include "rflow/nn/token_transformer.h"

namespace rflow {

struct SentenceVAEOptions {
  int64_t vocab = 0;
  int64_t max_len = 24;      // tokens per sentence, its end token included
  int64_t dim = 128;
  int64_t encoder_layers = 2;
  int64_t decoder_layers = 2;
  int64_t heads = 4;
  int64_t latents = 2;       // K latent vectors ...
  int64_t latent_dim = 16;   // ... of this size: the flow's space has K · latent_dim dimensions
  bool variational = true;   // false: a deterministic autoencoder (the posterior is its mean)

  template <class V>
  void visit(V& v) {
    v("dim", dim, "width of the encoder and decoder");
    v("encoder_layers", encoder_layers, "bidirectional encoder blocks");
    v("decoder_layers", decoder_layers, "autoregressive decoder blocks (MLA attention, SwiGLU)");
    v("heads", heads, "attention heads");
    v("latents", latents, "latent vectors per sentence (K)");
    v("latent_dim", latent_dim, "size of each latent vector; the flow works in latents × latent_dim dimensions");
    v("max_len", max_len, "tokens per sentence, the end token included (longer ones are refused)");
    v("variational", variational, "a VAE (Gaussian posterior, KL term); false: a plain autoencoder");
  }
  void validate(const std::string& where) const;
  int64_t flat_dim() const { return latents * latent_dim; }
};

struct VaeLosses {
  at::Tensor reconstruction;  // token cross-entropy summed over each sentence, averaged over the batch
  at::Tensor kl;              // Σ_d KL_d: nats per sentence, batch-averaged (0 when not variational)
  at::Tensor kl_free_bits;    // Σ_d max(KL_d, λ): what the loss weighs by β
  at::Tensor token_accuracy;  // teacher-forced argmax accuracy over real tokens
};

// KL(N(μ, σ²) ‖ N(0, 1)) per dimension, averaged over the batch: mu, logvar [B, D] → [D].
at::Tensor kl_per_dimension(const at::Tensor& mu, const at::Tensor& logvar);
// Free bits (Kingma et al. 2016): Σ_d max(KL_d, λ), so no dimension is pushed below λ nats.
at::Tensor free_bits_kl(const at::Tensor& kl_per_dim, double lambda);

class SentenceVAEImpl : public torch::nn::Cloneable<SentenceVAEImpl> {
 public:
  explicit SentenceVAEImpl(SentenceVAEOptions opt);
  void reset() override;

  struct Posterior {
    at::Tensor mu, logvar;  // [B, K·latent_dim]
  };
  // ids [B, T] (tokens then kEos, kPad after) with mask [B, T] → the posterior of each sentence.
  Posterior encode(const at::Tensor& ids, const at::Tensor& mask);
  // Teacher-forced logits [B, T, V] of ids given latents z [B, K·latent_dim].
  at::Tensor logits(const at::Tensor& z, const at::Tensor& ids);
  // The losses of one batch; eps [B, K·latent_dim] is the reparameterisation noise (given, so the
  // same batch can be scored twice with the same draw).
  VaeLosses losses(const at::Tensor& ids, const at::Tensor& mask, const at::Tensor& eps, double free_bits);
  // Greedy decoding of latents: ids [B, ≤ max_len] ending at kEos (kPad after). With the cache the
  // prefix is computed once and each token costs one position; without it every step reruns the
  // whole sequence (the reference the cache must equal).
  at::Tensor decode_greedy(const at::Tensor& z, bool use_cache = true);
  // Floats the decoder caches per token and layer (MLA latent + rotary key) against plain MHA.
  int64_t cache_floats_per_token() const;
  int64_t mha_cache_floats_per_token() const;
  const SentenceVAEOptions& options() const { return opt_; }

 private:
  at::Tensor prefix(const at::Tensor& z);  // [B, K, dim]
  at::Tensor run_blocks(const at::Tensor& x);
  SentenceVAEOptions opt_;
  MLAOptions mla_;
  TextEncoder encoder_{nullptr};
  at::Tensor queries_;  // [K, dim]: the pooling queries
  torch::nn::Linear pool_q_{nullptr}, pool_kv_{nullptr}, to_posterior_{nullptr}, from_latent_{nullptr};
  torch::nn::Embedding embed_{nullptr};
  at::Tensor prefix_pos_;  // [K, dim]: which prefix slot a latent vector is
  std::vector<TokenBlock> blocks_;
  RMSNorm norm_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(SentenceVAE);

}  // namespace rflow
