#include "rflow/nn/layers/text_encoder.h"

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/layers/attention.h"
#include "rflow/nn/layers/gelu.h"
#include "rflow/nn/layers/linear.h"

namespace rflow {

void TextEncoderOptions::validate(const std::string& where) const {
  RF_CHECK(vocab >= 1, "the text encoder needs a vocabulary (vocab >= 1)", where + ".vocab", "the tokenizer's vocab_size");
  RF_CHECK(len >= 1 && len <= 4096, "len must be in [1, 4096]", where + ".len", "");
  RF_CHECK(dim >= 1 && heads >= 1 && dim % heads == 0, "dim must be a positive multiple of heads", where + ".dim", "e.g. 128 with 4 heads");
  RF_CHECK(layers >= 0, "layers must be >= 0", where + ".layers", "");
}

TextEncoderImpl::TextEncoderImpl(TextEncoderOptions opt) : opt_(std::move(opt)) {
  opt_.validate("text encoder");
  reset();
}

void TextEncoderImpl::reset() {
  const int64_t D = opt_.dim;
  tokens_ = register_module("tokens", torch::nn::Embedding(torch::nn::EmbeddingOptions(opt_.vocab, D)));
  tokens_->weight.data().normal_(0.0, 0.02);
  positions_ = register_parameter("positions", torch::randn({opt_.len, D}) * 0.02);
  norm1_.clear(), norm2_.clear(), qkv_.clear(), proj_.clear(), fc1_.clear(), fc2_.clear();
  for (int64_t i = 0; i < opt_.layers; ++i) {
    const std::string n = std::to_string(i);
    norm1_.push_back(register_module("norm1_" + n, torch::nn::LayerNorm(torch::nn::LayerNormOptions({D}).eps(1e-6))));
    qkv_.push_back(register_module("qkv" + n, torch::nn::Linear(D, 3 * D)));
    proj_.push_back(register_module("proj" + n, torch::nn::Linear(D, D)));
    norm2_.push_back(register_module("norm2_" + n, torch::nn::LayerNorm(torch::nn::LayerNormOptions({D}).eps(1e-6))));
    fc1_.push_back(register_module("fc1_" + n, torch::nn::Linear(D, 4 * D)));
    fc2_.push_back(register_module("fc2_" + n, torch::nn::Linear(4 * D, D)));
  }
  final_norm_ = register_module("final_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({D}).eps(1e-6)));
}

at::Tensor TextEncoderImpl::forward(const at::Tensor& ids, const at::Tensor& mask) {
  RF_CHECK(ids.dim() == 2 && ids.scalar_type() == torch::kInt64, "token ids must be [B, T] int64, got " +
           c10::str(ids.sizes()), "text encoder", "pass the tokenizer's ids (cond.context)");
  const int64_t B = ids.size(0), T = ids.size(1), D = opt_.dim, H = opt_.heads;
  RF_CHECK(T <= opt_.len, "a text of " + std::to_string(T) + " tokens is longer than the encoder's " +
           std::to_string(opt_.len), "text encoder", "raise the encoder's length or cut the text");
  // One check (one device sync) for both bounds.
  RF_CHECK(!((ids < 0) | (ids >= opt_.vocab)).any().item<bool>(),
           "a token id is outside the encoder's vocabulary of " + std::to_string(opt_.vocab), "text encoder",
           "the model's text vocabulary must hold the tokenizer's (its vocab_size)");
  AttentionMask am;
  if (mask.defined()) {
    RF_CHECK(mask.sizes() == ids.sizes(), "mask must be [B, T] like the ids", "text encoder", "");
    am.keys = mask.to(torch::kBool);
  }
  at::Tensor h = tokens_->forward(ids) + positions_.narrow(0, 0, T);
  for (int64_t i = 0; i < opt_.layers; ++i) {
    const auto qkv = linear(norm1_[i]->forward(h), qkv_[i]->weight, qkv_[i]->bias).view({B, T, 3, H, D / H}).permute({2, 0, 3, 1, 4});
    const at::Tensor a = attention(qkv[0], qkv[1], qkv[2], am).transpose(1, 2).reshape({B, T, D});
    h = h + linear(a, proj_[i]->weight, proj_[i]->bias);
    const at::Tensor f = gelu_tanh(linear(norm2_[i]->forward(h), fc1_[i]->weight, fc1_[i]->bias));
    h = h + linear(f, fc2_[i]->weight, fc2_[i]->bias);
  }
  return final_norm_->forward(h);
}

}  // namespace rflow
