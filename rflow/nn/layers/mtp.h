// Multi-token prediction (DeepSeek-V3): module k combines the previous depth's hidden state at
// position i with the embedding of token i + k, h' = M·[RMSNorm(h); RMSNorm(Emb(t_{i+k}))], runs
// one causal transformer block and predicts token i + k + 1 through the main model's own
// embedding table and output head (shared, not copied). Module k + 1 reads module k's output, so
// the causal chain is kept; at inference the modules are simply not called.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>

#include "rflow/nn/layers/rms_norm.h"
#include "rflow/nn/token_transformer.h"

namespace rflow {

class MtpModuleImpl : public torch::nn::Cloneable<MtpModuleImpl> {
 public:
  MtpModuleImpl(int64_t dim, const MLAOptions& mla, bool moe, const MoEOptions& moe_opt, int64_t dense_hidden);
  void reset() override;
  // h_prev [B, T', D] (positions 0 … T'−1 of the previous depth), emb_ahead [B, T', D] (the
  // embeddings of the tokens k ahead) → h_k [B, T', D], before the final norm.
  at::Tensor forward(const at::Tensor& h_prev, const at::Tensor& emb_ahead);
  TokenBlock block() const { return block_; }

 private:
  int64_t dim_, dense_hidden_;
  MLAOptions mla_opt_;
  bool use_moe_;
  MoEOptions moe_opt_;
  RMSNorm hnorm_{nullptr}, enorm_{nullptr};
  torch::nn::Linear proj_{nullptr};
  TokenBlock block_{nullptr};
};
TORCH_MODULE(MtpModule);

}  // namespace rflow
