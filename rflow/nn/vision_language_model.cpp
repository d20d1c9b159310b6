#include "rflow/nn/vision_language_model.h"

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

void VisionLanguageOptions::validate(const std::string& where) const {
  vision.validate(where + ".vision");
  lm.validate(where + ".lm");
}

VisionLanguageModelImpl::VisionLanguageModelImpl(VisionLanguageOptions opt, int64_t text_vocab)
    : opt_(std::move(opt)), text_vocab_(text_vocab) {
  RF_CHECK(text_vocab >= 5, "the tokenizer's vocabulary is too small", "vision-language model", "");
  opt_.lm.vocab = text_vocab + 2;
  opt_.vision.dim = opt_.lm.dim;
  opt_.validate("model");
  reset();
}

void VisionLanguageModelImpl::reset() {
  vision_ = register_module("vision", TileEncoder(opt_.vision));
  lm_ = register_module("lm", TokenTransformer(opt_.lm));
}

at::Tensor VisionLanguageModelImpl::input_embeddings(const at::Tensor& ids, const at::Tensor& image_tokens) {
  const at::Tensor slots = ids == image_id();
  at::Tensor e = lm_->embedding()(ids.masked_fill(slots, 0));
  const int64_t n = slots.sum().item<int64_t>();
  if (n == 0) return e;
  RF_CHECK(image_tokens.defined() && image_tokens.numel() / image_tokens.size(-1) == n,
           std::to_string(n) + " image placeholders but " +
               std::to_string(image_tokens.defined() ? image_tokens.numel() / image_tokens.size(-1) : 0) + " image tokens",
           "vision-language model", "each row needs exactly as many placeholders as its image gives tokens");
  // Filled in order, row by row: the k-th placeholder of a row takes the row's k-th image token.
  return e.masked_scatter(slots.unsqueeze(-1), image_tokens.to(e.dtype()));
}

at::Tensor VisionLanguageModelImpl::input_embeddings(const at::Tensor& ids, const at::Tensor& tiles, int64_t rows,
                                                     int64_t cols) {
  return input_embeddings(ids, vision_->forward(tiles, rows, cols));
}

AnswerLoss VisionLanguageModelImpl::loss(const at::Tensor& ids, const at::Tensor& supervise, const at::Tensor& tiles,
                                         int64_t rows, int64_t cols) {
  const int64_t T = ids.size(1);
  const at::Tensor h = lm_->trunk(input_embeddings(ids, tiles, rows, cols)).narrow(1, 0, T - 1);
  const at::Tensor target = ids.narrow(1, 1, T - 1);
  const at::Tensor w = supervise.narrow(1, 1, T - 1).to(torch::kFloat32);
  const at::Tensor picked = w.reshape({-1}).nonzero().squeeze(1);
  RF_CHECK(picked.numel() > 0, "no supervised token in the batch", "vision-language loss", "");
  const at::Tensor logits = lm_->logits_of(h.reshape({-1, h.size(-1)}).index_select(0, picked));
  const at::Tensor tgt = target.reshape({-1}).index_select(0, picked);
  AnswerLoss out;
  out.loss = torch::nn::functional::cross_entropy(logits, tgt);
  if (const at::Tensor b = lm_->take_balance_loss(); b.defined()) out.loss = out.loss + b;
  out.accuracy = (logits.argmax(-1) == tgt).to(torch::kFloat32).mean().detach();
  return out;
}

}  // namespace rflow
