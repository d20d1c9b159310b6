// Multi-head Latent Attention (DeepSeek-V2/V3): keys and values come from one low-rank latent c_t
// per token (plus one shared rotary key kR_t), so decoding needs to cache only [c_t; kR_t] per
// token and layer instead of every head's keys and values. The "absorbed" decode folds the key
// up-projection into the query and the value up-projection after the attention, attending in the
// latent space; it equals the expanded computation (the MLA tests hold it to that).
#pragma once

#include <string>

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>

#include "rflow/nn/layers/rms_norm.h"

namespace rflow {

struct MLAOptions {
  int64_t heads = 4;
  int64_t q_rank = 0;     // d_c': query latent (0 = no query compression)
  int64_t kv_rank = 16;   // d_c: the cached key/value latent
  int64_t nope_dim = 16;  // d_h: per-head key/query size without position
  int64_t rope_dim = 8;   // d_R: the decoupled rotary part (one key shared by all heads)
  int64_t v_dim = 16;     // d_v
  double theta = 10000.0;

  template <class V>
  void visit(V& v) {
    v("heads", heads, "attention heads");
    v("q_rank", q_rank, "query latent rank d_c' (0 = no query compression)");
    v("kv_rank", kv_rank, "key/value latent rank d_c: what decoding caches per token and layer, with the rotary key");
    v("nope_dim", nope_dim, "per-head key/query size without position (d_h)");
    v("rope_dim", rope_dim, "the decoupled rotary key size d_R (one key shared by all heads)");
    v("v_dim", v_dim, "per-head value size d_v");
  }
  void validate(const std::string& where) const;
  // Floats cached per token and layer: the latent and the rotary key, against what an expanded
  // multi-head cache keeps, n_h·(d_h + d_R) keys + n_h·d_v values (DeepSeek-V3: 576 vs 40 960).
  int64_t latent_cache_floats() const { return kv_rank + rope_dim; }
  int64_t mha_cache_floats() const { return heads * (nope_dim + rope_dim + v_dim); }
};

// What decoding keeps per sequence: the normalised latents and rotated keys of every token so far.
struct LatentCache {
  at::Tensor latent;    // [B, T_max, d_c]
  at::Tensor rope_key;  // [B, T_max, d_R]
  int64_t length = 0;   // tokens cached
  int64_t bytes_per_token() const;  // per sequence: (d_c + d_R) × element size
};

class MLAImpl : public torch::nn::Cloneable<MLAImpl> {
 public:
  MLAImpl(int64_t dim, MLAOptions opt);
  void reset() override;
  // Causal self-attention over x [B, T, D] at positions start … start + T − 1, keys and values
  // expanded per head (training; the reference for the absorbed path). The last open_tail tokens
  // also attend to each other both ways (see AttentionMask).
  at::Tensor forward(const at::Tensor& x, int64_t start = 0, int64_t open_tail = 0);
  // The same tokens appended to `cache` (allocated on first use for max_len tokens) and attended
  // in the latent space against everything cached: prefill (T > 1) and decode (T = 1) alike.
  at::Tensor decode(const at::Tensor& x, LatentCache& cache, int64_t max_len, int64_t open_tail = 0);
  const MLAOptions& options() const { return opt_; }

 private:
  struct Projected {
    at::Tensor q_nope, q_rope;  // [B, H, T, d_h], [B, H, T, d_R] (rotated)
    at::Tensor latent, k_rope;  // [B, T, d_c] (normalised), [B, T, d_R] (rotated)
  };
  Projected project(const at::Tensor& x, int64_t start);
  int64_t dim_;
  MLAOptions opt_;
  torch::nn::Linear wq_{nullptr}, wq_a_{nullptr}, wq_b_{nullptr}, wkv_a_{nullptr}, wkv_b_{nullptr}, wo_{nullptr};
  RMSNorm q_norm_{nullptr}, kv_norm_{nullptr};
};
TORCH_MODULE(MLA);

}  // namespace rflow
