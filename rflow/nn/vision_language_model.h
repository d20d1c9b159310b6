// DeepSeek-VL2 in small: the tile encoder's image tokens fill the `<image>` placeholders of a text
// sequence, in order, and a DeepSeek-style token transformer (MLA + DeepSeekMoE) reads the result
// and answers. The vocabulary is the tokenizer's plus two ids of its own, the image placeholder and
// the answer marker, so no text a user types can forge them.
#pragma once

#include <string>

#include <torch/nn/cloneable.h>

#include "rflow/nn/tile_encoder.h"
#include "rflow/nn/token_transformer.h"

namespace rflow {

struct VisionLanguageOptions {
  TileEncoderOptions vision;
  TokenTransformerOptions lm;

  template <class V>
  void visit(V& v) {
    v.section("vision", vision);
    v.section("lm", lm);
  }
  void validate(const std::string& where) const;
};

struct AnswerLoss {
  at::Tensor loss;      // cross-entropy over the supervised tokens (+ the MoE balance loss)
  at::Tensor accuracy;  // share of supervised tokens predicted right (argmax)
};

// What every model that reads images in a token sequence shares (this one and JanusFlow):
// token embeddings of ids whose `image_id` placeholders take image_tokens [B, N, D] in order, row
// by row (a count mismatch is an error; undefined tokens when no row has a placeholder) ...
at::Tensor fill_image_placeholders(TokenTransformerImpl& lm, const at::Tensor& ids, int64_t image_id,
                                   const at::Tensor& image_tokens);
// ... and the next-token cross-entropy of lm over input embeddings on the positions where
// supervise [B, T] is 1, each predicted from the position before it.
AnswerLoss answer_loss(TokenTransformerImpl& lm, const at::Tensor& embeddings, const at::Tensor& ids,
                       const at::Tensor& supervise);

class VisionLanguageModelImpl : public torch::nn::Cloneable<VisionLanguageModelImpl> {
 public:
  // text_vocab: the tokenizer's vocabulary; the model adds the placeholder and answer ids after it.
  VisionLanguageModelImpl(VisionLanguageOptions opt, int64_t text_vocab);
  void reset() override;
  int64_t image_id() const { return text_vocab_; }
  int64_t answer_id() const { return text_vocab_ + 1; }
  // ids [B, T] with exactly N = image tokens placeholders per row; image_tokens [B, N, D] (or
  // undefined when no row has any) → input embeddings [B, T, D].
  at::Tensor input_embeddings(const at::Tensor& ids, const at::Tensor& image_tokens);
  // The same with the image tokens made from tiles [B, 1 + rows·cols, C, S, S].
  at::Tensor input_embeddings(const at::Tensor& ids, const at::Tensor& tiles, int64_t rows, int64_t cols);
  // Next-token cross-entropy on the positions where supervise [B, T] is 1 (the answer and its end),
  // each predicted from the position before it.
  AnswerLoss loss(const at::Tensor& ids, const at::Tensor& supervise, const at::Tensor& tiles, int64_t rows, int64_t cols);
  TileEncoder vision() const { return vision_; }
  TokenTransformer lm() const { return lm_; }
  const VisionLanguageOptions& options() const { return opt_; }

 private:
  VisionLanguageOptions opt_;
  int64_t text_vocab_;
  TileEncoder vision_{nullptr};
  TokenTransformer lm_{nullptr};
};
TORCH_MODULE(VisionLanguageModel);

}  // namespace rflow
