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

at::Tensor fill_image_placeholders(TokenTransformerImpl& lm, const at::Tensor& ids, int64_t image_id,
                                   const at::Tensor& image_tokens) {
  const at::Tensor slots = ids == image_id;
  at::Tensor e = lm.embedding()(ids.masked_fill(slots, 0));
  const int64_t n = slots.sum().item<int64_t>();
  if (n == 0) return e;
  const int64_t have = image_tokens.defined() ? image_tokens.numel() / image_tokens.size(-1) : 0;
  RF_CHECK(have == n, std::to_string(n) + " image placeholders but " + std::to_string(have) + " image tokens",
           "vision-language model", "each row needs exactly as many placeholders as its image gives tokens");
  // Filled in order, row by row: the k-th placeholder of a row takes the row's k-th image token.
  return e.masked_scatter(slots.unsqueeze(-1), image_tokens.to(e.dtype()));
}

AnswerLoss answer_loss(TokenTransformerImpl& lm, const at::Tensor& embeddings, const at::Tensor& ids,
                       const at::Tensor& supervise) {
  const int64_t T = ids.size(1);
  const at::Tensor h = lm.trunk(embeddings).narrow(1, 0, T - 1);
  const at::Tensor picked = supervise.narrow(1, 1, T - 1).reshape({-1}).nonzero().squeeze(1);
  RF_CHECK(picked.numel() > 0, "no supervised token in the batch", "vision-language loss", "");
  const at::Tensor logits = lm.logits_of(h.reshape({-1, h.size(-1)}).index_select(0, picked));
  const at::Tensor tgt = ids.narrow(1, 1, T - 1).reshape({-1}).index_select(0, picked);
  return {torch::nn::functional::cross_entropy(logits, tgt), (logits.argmax(-1) == tgt).to(torch::kFloat32).mean().detach()};
}

at::Tensor VisionLanguageModelImpl::input_embeddings(const at::Tensor& ids, const at::Tensor& image_tokens) {
  return fill_image_placeholders(*lm_, ids, image_id(), image_tokens);
}

at::Tensor VisionLanguageModelImpl::input_embeddings(const at::Tensor& ids, const at::Tensor& tiles, int64_t rows,
                                                     int64_t cols) {
  return input_embeddings(ids, vision_->forward(tiles, rows, cols));
}

AnswerLoss VisionLanguageModelImpl::loss(const at::Tensor& ids, const at::Tensor& supervise, const at::Tensor& tiles,
                                         int64_t rows, int64_t cols) {
  AnswerLoss out = answer_loss(*lm_, input_embeddings(ids, tiles, rows, cols), ids, supervise);
  if (const at::Tensor b = lm_->take_balance_loss(); b.defined()) out.loss = out.loss + b;
  return out;
}

}  // namespace rflow
