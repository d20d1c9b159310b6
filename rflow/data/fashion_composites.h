// Captioned Fashion-MNIST composites: 1–4 garments in a row, a column or a 2×2 grid of 28×28 cells,
// each image with its caption in reading order ("a sneaker left of a bag", "a coat above a bag").
// Drawn on the fly from the train or test split, deterministic by seed; the caption travels as a
// token context: word ids [n, max_words] from the data set's own word tokenizer (the caption
// grammar's vocabulary), then, with max_chars > 0, its UTF-8 bytes as character ids [n, max_chars]
// (Hunyuan-DiT's second text encoder reads those), int64 with one mask. Captions parse back to their garments (parse_caption), which
// is how generated images are judged cell by cell.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "rflow/data/distribution.h"
#include "rflow/text/tokenizer.h"

namespace rflow {

// A grid of garments: rows × cols cells of 28×28.
struct CompositeLayout {
  std::string name;
  int64_t rows = 1, cols = 1;
  int64_t cells() const { return rows * cols; }
  std::vector<int64_t> shape() const { return {1, 28 * rows, 28 * cols}; }
};
// single (28×28), row2 (28×56), col2 (56×28), row3 (28×84), col3 (84×28), grid (56×56).
const std::vector<CompositeLayout>& composite_layouts();
const CompositeLayout& composite_layout(const std::string& name, const std::string& where);
// The layout of rows × cols cells, or nullptr where there is none (a row of four, a 3×2 grid).
const CompositeLayout* composite_layout_of(int64_t rows, int64_t cols);
// The layouts a data set's `layout` setting names: one ("row2"), several ("single,row2,col2": one
// DiT across aspect ratios, each draw in one of them) or "all"; throws rflow::Error naming a bad one.
std::vector<CompositeLayout> composite_layouts_named(const std::string& list, const std::string& where);

// Fashion-MNIST's ten classes as captions name them ("t-shirt", ..., "ankle boot").
const std::vector<std::string>& garment_names();
// A garment as captions name it, with its article ("a bag", "an ankle boot").
std::string garment_with_article(int64_t cls);
// The caption of cells' classes in reading order: rows joined by "above", cells of a row by "left of".
std::string composite_caption(const std::vector<int64_t>& classes, const CompositeLayout& layout);
// The layout and classes a caption names (any case and spacing); throws rflow::Error saying what it
// could not read. parse_caption(composite_caption(c, l)) == {l, c}.
struct ParsedCaption {
  CompositeLayout layout;
  std::vector<int64_t> classes;  // reading order
};
ParsedCaption parse_caption(const std::string& caption);
// The word tokenizer of every caption the grammar makes (the same ids on every machine).
std::unique_ptr<text::Tokenizer> caption_tokenizer();

struct FashionCompositesOptions {
  std::string split = "train";
  std::string layout = "row2";
  int64_t max_words = 20;
  int64_t max_chars = 0;

  template <class V>
  void visit(V& v) {
    v("split", split, "garments from train (60k) | test (10k)");
    v("layout", layout, "single | row2 | col2 | row3 | col3 | grid (2×2), several comma-separated (each draw in one, bucketed by shape) or all");
    v("max_words", max_words, "caption tokens kept (a 2×2 caption has 13 to 17)");
    v("max_chars", max_chars, "> 0: the caption's characters follow its words in the context (a row of 2 has up to 35, a 2×2 grid up to 77)");
  }
  void validate(const std::string& where) const;
};

class FashionComposites : public Distribution {
 public:
  // images: uint8 [N, 1, 28, 28]; labels: int64 [N]; layouts: one or more, each draw in one of them
  // (chosen uniformly).
  FashionComposites(at::Tensor images, at::Tensor labels, std::vector<CompositeLayout> layouts, int64_t max_words,
                    int64_t max_chars, std::string desc);
  std::vector<int64_t> sample_shape() const override { return layouts_[0].shape(); }
  std::vector<std::vector<int64_t>> sample_shapes() const override;
  std::string shape_name(const std::vector<int64_t>& shape) const override;
  std::vector<int64_t> prompt_shape(const std::string& prompt) const override;
  std::string describe() const override { return desc_; }
  std::string kind() const override { return "composites"; }
  int64_t context_len() const override { return max_words_ + max_chars_; }
  const text::Tokenizer* tokenizer() const override { return tokenizer_.get(); }
  const std::vector<CompositeLayout>& layouts() const { return layouts_; }
  // Whether it draws `name` composites.
  bool draws(const std::string& name) const;
  // The composite of given garments (indices into the split) laid out in `layout` [1, 28·rows, 28·cols]
  // in [−1, 1], and the caption of their classes.
  at::Tensor compose(const std::vector<int64_t>& garments, const CompositeLayout& layout) const;
  std::string caption_of(const std::vector<int64_t>& garments, const CompositeLayout& layout) const;
  // The token context of captions (what draws carry).
  Cond encode(const std::vector<std::string>& captions) const;
  // encode(), after checking that each prompt is a caption of one of its layouts.
  Cond encode_prompts(const std::vector<std::string>& prompts) const override;
  // The captions of a token context (its words).
  std::vector<std::string> decode_prompts(const Cond& c) const override;

 private:
  Draw draw(int64_t n, const at::Generator& rng) override;
  Draw draw_shaped(const std::vector<int64_t>& shape, int64_t n, const at::Generator& rng) override;
  Draw draw_in(const CompositeLayout& layout, int64_t n, const at::Generator& rng) const;
  // Copies the garments' bytes into their cells of out (uint8 [1, 28·rows, 28·cols]).
  void paste(const int64_t* garments, const CompositeLayout& layout, at::Tensor& out) const;
  // "'p' describes a col2 composite; this model draws row2" unless it draws p's layout.
  void check_layout(const std::string& prompt, const CompositeLayout& layout) const;
  at::Tensor images_, labels_;
  std::vector<CompositeLayout> layouts_;
  int64_t max_words_, max_chars_;
  std::string desc_;
  std::unique_ptr<text::Tokenizer> tokenizer_;
};

DistributionEntry fashion_composites_entry();

}  // namespace rflow
