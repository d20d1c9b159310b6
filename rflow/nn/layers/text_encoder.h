// A small bidirectional transformer that reads token ids (a caption's words or characters) into one
// state per token, as Hunyuan-DiT's text encoders do for its cross-attention: learned token and
// position embeddings, pre-LayerNorm blocks of self-attention (padding keys masked) and a GELU
// feed-forward. Trained with the image model (the mini Hunyuan-DiT recipe), not frozen.
#pragma once

#include <string>
#include <vector>

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

namespace rflow {

struct TextEncoderOptions {
  int64_t vocab = 0;   // token ids are in [0, vocab)
  int64_t len = 16;    // tokens read (position embeddings)
  int64_t dim = 128;
  int64_t layers = 2;
  int64_t heads = 4;
  void validate(const std::string& where) const;
};

class TextEncoderImpl : public torch::nn::Cloneable<TextEncoderImpl> {
 public:
  explicit TextEncoderImpl(TextEncoderOptions opt);
  void reset() override;
  // ids [B, T ≤ len] int64, mask [B, T] (1 = a token; undefined = all) → states [B, T, dim]. Padding
  // positions are computed but no token attends to them; the caller replaces them (padding vectors).
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& mask = {});
  const TextEncoderOptions& options() const { return opt_; }

 private:
  TextEncoderOptions opt_;
  torch::nn::Embedding tokens_{nullptr};
  at::Tensor positions_;
  std::vector<torch::nn::LayerNorm> norm1_, norm2_;
  std::vector<torch::nn::Linear> qkv_, proj_, fc1_, fc2_;
  torch::nn::LayerNorm final_norm_{nullptr};
};
TORCH_MODULE(TextEncoder);

}  // namespace rflow
