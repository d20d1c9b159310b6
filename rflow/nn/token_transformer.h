// A DeepSeek-style causal language model over tokens: blocks of MLA self-attention and a
// feed-forward that is a dense SwiGLU in the first `dense_layers` blocks and DeepSeekMoE after,
// each pre-normalised with RMSNorm; optional multi-token-prediction modules (see mtp.h) train the
// trunk to look further ahead. Small enough to train on 2 cores; the token side of the unified
// understand-and-generate models, and the test bed of MLA, MoE and MTP.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include "rflow/nn/layers/mla.h"
#include "rflow/nn/layers/moe.h"
#include "rflow/nn/layers/rms_norm.h"

namespace rflow {

struct TokenTransformerOptions {
  int64_t vocab = 64;
  int64_t dim = 64;
  int64_t layers = 3;
  int64_t dense_layers = 1;   // the first blocks use a dense SwiGLU ...
  int64_t dense_hidden = 128; // ... of this hidden size; the rest use MoE
  MLAOptions mla;
  MoEOptions moe;
  int64_t mtp_depth = 0;      // D multi-token-prediction modules (DeepSeek-V3: 1)
  double mtp_weight = 0.3;    // λ: L = L_main + λ/D · Σ_k L_k

  // vocab is the tokenizer's; the rest are settings.
  template <class V>
  void visit(V& v) {
    v("dim", dim, "model width");
    v("layers", layers, "transformer blocks (MLA attention; a dense SwiGLU or a MoE feed-forward)");
    v("dense_layers", dense_layers, "the first blocks use a dense SwiGLU, the rest DeepSeekMoE");
    v("dense_hidden", dense_hidden, "hidden size of the dense SwiGLU");
    v.section("mla", mla);
    v.section("moe", moe);
    v("mtp_depth", mtp_depth, "multi-token-prediction modules (0 = none)");
    v("mtp_weight", mtp_weight, "weight λ of the MTP losses");
  }
  void validate(const std::string& where) const;
};

// x ← x + MLA(RMSNorm(x)); x ← x + FFN(RMSNorm(x)), FFN a SwiGLU or a MoE.
class TokenBlockImpl : public torch::nn::Cloneable<TokenBlockImpl> {
 public:
  TokenBlockImpl(int64_t dim, const MLAOptions& mla, bool moe, const MoEOptions& moe_opt, int64_t dense_hidden);
  void reset() override;
  at::Tensor forward(const at::Tensor& x, int64_t start = 0, int64_t open_tail = 0);
  at::Tensor decode(const at::Tensor& x, LatentCache& cache, int64_t max_len, int64_t open_tail = 0);
  MoE moe() const { return moe_; }

 private:
  int64_t dim_, dense_hidden_;
  MLAOptions mla_opt_;
  bool use_moe_;
  MoEOptions moe_opt_;
  RMSNorm attn_norm_{nullptr}, ffn_norm_{nullptr};
  MLA attn_{nullptr};
  SwiGLU dense_{nullptr};
  MoE moe_{nullptr};
};
TORCH_MODULE(TokenBlock);

class MtpModuleImpl;

struct TokenLosses {
  at::Tensor total;              // main + λ/D · Σ mtp
  at::Tensor main;               // next-token cross-entropy
  std::vector<at::Tensor> mtp;   // L_k, k = 1 … D: predicting the token k + 1 ahead
};

class TokenTransformerImpl : public torch::nn::Cloneable<TokenTransformerImpl> {
 public:
  explicit TokenTransformerImpl(TokenTransformerOptions opt);
  void reset() override;
  // tokens [B, T] int64 → the trunk's last hidden state before the final norm [B, T, D].
  at::Tensor hidden(const at::Tensor& tokens);
  // The same from input embeddings [B, T, D] (token embeddings with image tokens spliced in).
  at::Tensor trunk(const at::Tensor& embeddings);
  at::Tensor logits_of(const at::Tensor& h);  // final norm + output head
  at::Tensor forward(const at::Tensor& tokens) { return logits_of(hidden(tokens)); }
  // Next-token cross-entropy plus the MTP modules' (targets shifted by k + 1).
  TokenLosses losses(const at::Tensor& tokens);
  // Incremental decoding with one latent cache per block (prefill or one token at a time).
  at::Tensor decode(const at::Tensor& tokens, std::vector<LatentCache>& caches, int64_t max_len);
  // decode() from input embeddings, returning the last hidden states [B, T, D] (before the norm);
  // the last open_tail of them attend to each other both ways (MLAImpl::forward).
  at::Tensor decode_hidden(const at::Tensor& embeddings, std::vector<LatentCache>& caches, int64_t max_len,
                           int64_t open_tail = 0);
  // Each MoE block's routing-bias update (see MoEImpl::update_bias), metrics averaged over blocks.
  std::map<std::string, at::Tensor> update_routing();
  at::Tensor take_balance_loss();

  torch::nn::Embedding embedding() const { return embed_; }
  torch::nn::Linear head() const { return head_; }
  const TokenTransformerOptions& options() const { return opt_; }
  std::vector<TokenBlock> blocks() const { return blocks_; }
  std::vector<MoE> moe_layers() const;  // the blocks' and the MTP modules'

 private:
  TokenTransformerOptions opt_;
  torch::nn::Embedding embed_{nullptr};
  std::vector<TokenBlock> blocks_;
  RMSNorm norm_{nullptr};
  torch::nn::Linear head_{nullptr};
  torch::nn::ModuleList mtp_{nullptr};
};
TORCH_MODULE(TokenTransformer);

}  // namespace rflow
