#include "rflow/nn/token_transformer.h"

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/layers/mtp.h"

namespace rflow {

void TokenTransformerOptions::validate(const std::string& where) const {
  RF_CHECK(vocab >= 2, "vocab must be >= 2", where + ".vocab", "");
  RF_CHECK(dim >= 1 && layers >= 1, "dim and layers must be >= 1", where + ".dim", "");
  RF_CHECK(dense_layers >= 0 && dense_layers <= layers, "dense_layers must be in [0, layers]", where + ".dense_layers", "");
  RF_CHECK(dense_hidden >= 1, "dense_hidden must be >= 1", where + ".dense_hidden", "");
  RF_CHECK(mtp_depth >= 0 && mtp_weight >= 0, "mtp_depth and mtp_weight must be >= 0", where + ".mtp_depth", "");
  mla.validate(where + ".mla");
  moe.validate(where + ".moe");
}

TokenBlockImpl::TokenBlockImpl(int64_t dim, const MLAOptions& mla, bool moe, const MoEOptions& moe_opt,
                               int64_t dense_hidden)
    : dim_(dim), dense_hidden_(dense_hidden), mla_opt_(mla), use_moe_(moe), moe_opt_(moe_opt) {
  reset();
}

void TokenBlockImpl::reset() {
  attn_norm_ = register_module("attn_norm", RMSNorm(dim_));
  attn_ = register_module("attn", MLA(dim_, mla_opt_));
  ffn_norm_ = register_module("ffn_norm", RMSNorm(dim_));
  if (use_moe_)
    moe_ = register_module("moe", MoE(dim_, moe_opt_));
  else
    dense_ = register_module("ffn", SwiGLU(dim_, dense_hidden_));
}

at::Tensor TokenBlockImpl::forward(const at::Tensor& x, int64_t start, int64_t open_tail) {
  at::Tensor h = x + attn_->forward(attn_norm_(x), start, open_tail);
  const at::Tensor n = ffn_norm_(h);
  return h + (use_moe_ ? moe_->forward(n) : dense_->forward(n));
}

at::Tensor TokenBlockImpl::decode(const at::Tensor& x, LatentCache& cache, int64_t max_len, int64_t open_tail) {
  at::Tensor h = x + attn_->decode(attn_norm_(x), cache, max_len, open_tail);
  const at::Tensor n = ffn_norm_(h);
  return h + (use_moe_ ? moe_->forward(n) : dense_->forward(n));
}

TokenTransformerImpl::TokenTransformerImpl(TokenTransformerOptions opt) : opt_(std::move(opt)) {
  opt_.validate("tokens");
  reset();
}

void TokenTransformerImpl::reset() {
  const auto& o = opt_;
  embed_ = register_module("embed", torch::nn::Embedding(o.vocab, o.dim));
  blocks_.clear();
  for (int64_t i = 0; i < o.layers; ++i)
    blocks_.push_back(register_module("block" + std::to_string(i),
                                      TokenBlock(o.dim, o.mla, i >= o.dense_layers, o.moe, o.dense_hidden)));
  norm_ = register_module("norm", RMSNorm(o.dim));
  head_ = register_module("head", torch::nn::Linear(torch::nn::LinearOptions(o.dim, o.vocab).bias(false)));
  mtp_ = register_module("mtp", torch::nn::ModuleList());
  for (int64_t k = 0; k < o.mtp_depth; ++k)
    mtp_->push_back(MtpModule(o.dim, o.mla, o.layers > o.dense_layers, o.moe, o.dense_hidden));
}

at::Tensor TokenTransformerImpl::hidden(const at::Tensor& tokens) {
  RF_CHECK(tokens.dim() == 2, "tokens must be [B, T]", "tokens", "");
  return trunk(embed_(tokens));
}

at::Tensor TokenTransformerImpl::trunk(const at::Tensor& embeddings) {
  at::Tensor h = embeddings;
  for (auto& b : blocks_) h = b->forward(h);
  return h;
}

at::Tensor TokenTransformerImpl::logits_of(const at::Tensor& h) { return head_(norm_(h)); }

TokenLosses TokenTransformerImpl::losses(const at::Tensor& tokens) {
  const int64_t T = tokens.size(1), V = opt_.vocab;
  const int64_t D = static_cast<int64_t>(mtp_->size());
  RF_CHECK(T >= D + 2, "sequences of " + std::to_string(T) + " tokens are too short for " + std::to_string(D) +
                           " prediction module(s)", "tokens", "use at least mtp_depth + 2 tokens");
  auto ce = [&](const at::Tensor& logits, const at::Tensor& target) {
    return torch::nn::functional::cross_entropy(logits.reshape({-1, V}), target.reshape({-1}));
  };
  TokenLosses out;
  at::Tensor h = hidden(tokens);
  out.main = ce(logits_of(h.narrow(1, 0, T - 1)), tokens.narrow(1, 1, T - 1));
  out.total = out.main;
  // Depth k sees positions 0 … T−k−2 (the ones with a token k + 1 ahead) and the embeddings of
  // the tokens k ahead of them; it feeds depth k + 1 on one position fewer.
  at::Tensor prev = h;
  for (int64_t k = 1; k <= D; ++k) {
    const int64_t n = T - k - 1;
    const at::Tensor hk = mtp_[k - 1]->as<MtpModuleImpl>()->forward(prev.narrow(1, 0, n), embed_(tokens.narrow(1, k, n)));
    out.mtp.push_back(ce(logits_of(hk), tokens.narrow(1, k + 1, n)));
    prev = hk;
  }
  if (D > 0) {
    at::Tensor sum = out.mtp[0];
    for (int64_t k = 1; k < D; ++k) sum = sum + out.mtp[k];
    out.total = out.total + sum * (opt_.mtp_weight / double(D));
  }
  return out;
}

at::Tensor TokenTransformerImpl::decode(const at::Tensor& tokens, std::vector<LatentCache>& caches, int64_t max_len) {
  return logits_of(decode_hidden(embed_(tokens), caches, max_len));
}

at::Tensor TokenTransformerImpl::decode_hidden(const at::Tensor& embeddings, std::vector<LatentCache>& caches,
                                               int64_t max_len, int64_t open_tail) {
  caches.resize(blocks_.size());
  at::Tensor h = embeddings;
  for (size_t i = 0; i < blocks_.size(); ++i) h = blocks_[i]->decode(h, caches[i], max_len, open_tail);
  return h;
}

std::vector<MoE> TokenTransformerImpl::moe_layers() const {
  std::vector<MoE> out;
  for (const auto& b : blocks_)
    if (b->moe()) out.push_back(b->moe());
  for (const auto& m : mtp_->children())
    if (auto mm = std::dynamic_pointer_cast<MtpModuleImpl>(m); mm && mm->block()->moe()) out.push_back(mm->block()->moe());
  return out;
}

std::map<std::string, at::Tensor> TokenTransformerImpl::update_routing() { return update_biases(moe_layers()); }

at::Tensor TokenTransformerImpl::take_balance_loss() { return take_balance_losses(moe_layers()); }

}  // namespace rflow
