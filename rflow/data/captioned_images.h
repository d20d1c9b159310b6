// A user's own captioned images as a text-to-image data set: a folder with `captions.tsv` (one
// `file<TAB>caption` per line, files relative to the folder), or an image array (.npy) with a text
// file of one caption per line. Captions are tokenized once: words by a tokenizer file (rflow
// tokenizer train) or by a word tokenizer built from the captions themselves, then, optionally,
// characters — the context a text-conditioned DiT reads.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "rflow/data/distribution.h"
#include "rflow/text/tokenizer.h"

namespace rflow {

struct CaptionedImagesOptions {
  std::string captions;   // .npy data: the captions file; a folder: "" = <folder>/captions.tsv
  int64_t channels = 1;   // folder images are read as grey (1) or RGB (3)
  std::string tokenizer;  // "" = a word tokenizer of the captions' words; or a tokenizer file
  int64_t max_words = 32;
  int64_t max_chars = 0;

  template <class V>
  void visit(V& v) {
    v("captions", captions, "path = an .npy image array: its captions, one per line; path = a folder: \"\" reads <folder>/captions.tsv (file<TAB>caption)");
    v("channels", channels, "folder images: 1 (grey) or 3 (RGB)");
    v("tokenizer", tokenizer, "\"\" = a word tokenizer built from the captions (every word seen); or a file from `rflow tokenizer train`");
    v("max_words", max_words, "word (or subword) tokens kept per caption; the DiT's model.dit.text.word_len");
    v("max_chars", max_chars, "> 0: the caption's characters follow its words (model.dit.text.char_len)");
  }
  void validate(const std::string& where) const;
};

class CaptionedImages : public Distribution {
 public:
  // images: uint8 [N, C, H, W] (or float in [−1, 1]); one caption per image.
  CaptionedImages(at::Tensor images, std::vector<std::string> captions, std::unique_ptr<text::Tokenizer> words,
                  int64_t max_words, int64_t max_chars, std::string desc);
  std::vector<int64_t> sample_shape() const override;
  std::string describe() const override { return desc_; }
  std::string kind() const override { return "captioned_images"; }
  int64_t context_len() const override { return max_words_ + max_chars_; }
  const text::Tokenizer* tokenizer() const override { return words_.get(); }
  // Any text whose words the tokenizer knows; refuses (naming them) words it would read as unknown.
  Cond encode_prompts(const std::vector<std::string>& prompts) const override;
  std::vector<std::string> decode_prompts(const Cond& c) const override;
  const std::vector<std::string>& captions() const { return captions_; }

 private:
  Draw draw(int64_t n, const at::Generator& rng) override;
  Cond encode(const std::vector<std::string>& texts) const;
  at::Tensor images_;
  std::vector<std::string> captions_;
  std::unique_ptr<text::Tokenizer> words_;
  int64_t max_words_, max_chars_;
  std::string desc_;
  Cond context_;  // every caption's tokens, encoded once
};

// path: a folder with captions.tsv, or an .npy array (captions from o.captions).
std::unique_ptr<CaptionedImages> load_captioned_images(const std::string& path, const CaptionedImagesOptions& o,
                                                       const std::string& where);
DistributionEntry captioned_images_entry();

}  // namespace rflow
