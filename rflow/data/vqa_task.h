// The understanding task as tensors: composites of test- or train-split garments with a question
// each, tiled (dynamic or resize) and laid out as VL2 does — <bos>, one placeholder per image
// token, the question's words, the answer marker — then, for training, the answer and <eos>, which
// alone are supervised. Every text is checked against the run's tokenizer first.
#pragma once

#include <memory>
#include <random>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "rflow/data/dynamic_tiling.h"
#include "rflow/data/fashion_composites.h"
#include "rflow/data/image_questions.h"
#include "rflow/text/tokenizer.h"

namespace rflow {

struct VqaExample {
  at::Tensor image;  // [1, H, W] in [−1, 1]
  std::string layout;
  std::vector<int64_t> classes;
  ImageQuestion question;
};

struct VqaBatch {
  at::Tensor tiles;   // [B, 1 + rows·cols, C, S, S]
  at::Tensor images;  // [B, 1, H, W]: the images themselves (they share a size when they share a layout)
  TileGrid grid;
  at::Tensor ids;        // [B, T]
  at::Tensor supervise;  // [B, T]: 1 on the answer's tokens and its <eos>
};

// The prompt of a question about an image of `image_tokens` tokens: <bos>, placeholders, the
// question's ids, the answer marker. Throws rflow::Error naming words the tokenizer does not know.
std::vector<int64_t> vqa_prompt(const text::Tokenizer& tok, const std::string& question, int64_t image_tokens,
                                int64_t image_id, int64_t answer_id);
// A question as people type it, made comparable: lower case, single spaces, a final '?' or '.' dropped.
std::string clean_question(const std::string& q);

class VqaTask {
 public:
  // The composites of a split; `side`: image tokens per tile side (the tile encoder's).
  VqaTask(const std::string& fashion_dir, const std::string& split, const std::string& layouts,
          std::vector<std::string> kinds, TilingOptions tiling, int64_t side);
  const std::vector<CompositeLayout>& layouts() const { return layouts_; }
  const std::vector<std::string>& kinds() const { return kinds_; }
  // n composites of random garments in `layout`, each with one question of `kind` ("" = a random
  // kind of those that apply).
  std::vector<VqaExample> draw(const CompositeLayout& layout, int64_t n, std::mt19937_64& rng,
                               const std::string& kind = "") const;
  // Examples that share a grid as tensors; with_answers: the answer and <eos> follow (training).
  // image_tokens ≥ 0: that many placeholders per image (an encoder of its own layout) instead of
  // VL2's count for the grid.
  VqaBatch batch(const std::vector<VqaExample>& ex, const text::Tokenizer& tok, int64_t image_id, int64_t answer_id,
                 bool with_answers, int64_t image_tokens = -1) const;
  const TilingOptions& tiling() const { return tiling_; }
  int64_t side() const { return side_; }

 private:
  std::unique_ptr<FashionComposites> composites_;
  at::Tensor labels_;
  std::vector<CompositeLayout> layouts_;
  std::vector<std::string> kinds_;
  TilingOptions tiling_;
  int64_t side_;
};

}  // namespace rflow
