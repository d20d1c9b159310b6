// A user's captioned images: a folder with captions.tsv or an .npy array with a captions file; every
// draw carries its own image's caption (checked through images whose brightness names their
// caption); prompts with words the captions never used are refused by name; bad inputs are refused
// before any training.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/data/captioned_images.h"
#include "rflow/io/image_file.h"
#include "rflow/io/npy.h"
#include "tests/test_util.h"

using namespace rflow;

namespace {

const std::vector<std::string> kCaptions{"a red circle", "a blue square", "two green dots", "a red square"};

// Image k is filled with grey level 40·k + 20, so a draw's brightness says which caption it must carry.
void write_folder(test::TempDir& dir) {
  std::string tsv = "# file\tcaption\n";
  for (size_t k = 0; k < kCaptions.size(); ++k) {
    io::write_png(dir.file("im" + std::to_string(k) + ".png"), torch::full({8, 6}, 40 * int(k) + 20, torch::kUInt8));
    tsv += "im" + std::to_string(k) + ".png\t" + kCaptions[k] + "\n";
  }
  test::write_text(dir.file("captions.tsv"), tsv);
}

int64_t index_of(const at::Tensor& image) {
  return std::lround(((image.mean().item<double>() + 1) * 127.5 - 20) / 40);
}

}  // namespace

TEST(CaptionedImages, AFolderDrawsEachImageWithItsOwnCaption) {
  test::TempDir dir;
  write_folder(dir);
  CaptionedImagesOptions o;
  o.max_words = 6, o.max_chars = 16;
  auto d = load_captioned_images(dir.path().string(), o, "data.target");
  EXPECT_EQ(d->sample_shape(), (std::vector<int64_t>{1, 8, 6}));
  EXPECT_EQ(d->context_len(), 22);
  EXPECT_EQ(d->tokenizer()->kind(), "word");
  const Draw draw = d->sample(64);
  ASSERT_EQ(draw.cond.context.sizes(), (std::vector<int64_t>{64, 22}));
  const auto texts = d->decode_prompts(draw.cond);
  for (int64_t i = 0; i < 64; ++i) {
    const int64_t k = index_of(draw.x[i]);
    ASSERT_GE(k, 0);
    ASSERT_LT(k, 4);
    EXPECT_EQ(texts[static_cast<size_t>(i)], kCaptions[static_cast<size_t>(k)]) << i;
    // Words (3) then characters (the caption's bytes) under one mask.
    EXPECT_EQ(draw.cond.mask[i].narrow(0, 0, 6).sum().item<double>(), 3.0);
    EXPECT_EQ(draw.cond.mask[i].narrow(0, 6, 16).sum().item<double>(), double(kCaptions[static_cast<size_t>(k)].size()));
  }
  const Cond p = d->encode_prompts({"a blue circle", "two red dots"});
  EXPECT_EQ(d->decode_prompts(p), (std::vector<std::string>{"a blue circle", "two red dots"}));
  try {
    d->encode_prompts({"a purple circle"});
    FAIL() << "an unknown word was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'purple'"), std::string::npos) << e.what();
  }
}

TEST(CaptionedImages, AnArrayWithACaptionsFile) {
  test::TempDir dir;
  io::write_npy(dir.file("x.npy"), torch::arange(4, torch::kFloat32).view({4, 1, 1, 1}).expand({4, 2, 3, 3}).contiguous() / 4);
  test::write_text(dir.file("c.txt"), "one\ntwo\nthree\nfour\n");
  CaptionedImagesOptions o;
  o.captions = dir.file("c.txt");
  auto d = load_captioned_images(dir.file("x.npy"), o, "data.target");
  EXPECT_EQ(d->sample_shape(), (std::vector<int64_t>{2, 3, 3}));
  const Draw draw = d->sample(16);
  const auto texts = d->decode_prompts(draw.cond);
  const std::vector<std::string> words{"one", "two", "three", "four"};
  for (int64_t i = 0; i < 16; ++i)
    EXPECT_EQ(texts[static_cast<size_t>(i)], words[static_cast<size_t>(std::lround(draw.x[i].mean().item<double>() * 4))]);
}

TEST(CaptionedImages, RefusesBadInputsBeforeTraining) {
  test::TempDir dir;
  write_folder(dir);
  CaptionedImagesOptions o;
  test::write_text(dir.file("captions.tsv"), "im0.png a caption without a tab\n");
  EXPECT_THROW(load_captioned_images(dir.path().string(), o, "t"), Error);
  test::write_text(dir.file("captions.tsv"), "missing.png\tsomething\n");
  EXPECT_THROW(load_captioned_images(dir.path().string(), o, "t"), Error);
  test::write_text(dir.file("captions.tsv"), "# nothing listed\n");
  EXPECT_THROW(load_captioned_images(dir.path().string(), o, "t"), Error);
  io::write_npy(dir.file("x.npy"), torch::zeros({3, 4, 4}, torch::kUInt8));
  test::write_text(dir.file("c.txt"), "one\ntwo\n");
  o.captions = dir.file("c.txt");
  EXPECT_THROW(load_captioned_images(dir.file("x.npy"), o, "t"), Error);  // 3 images, 2 captions
  o.captions.clear();
  EXPECT_THROW(load_captioned_images(dir.file("x.npy"), o, "t"), Error);  // no captions file
  write_folder(dir);  // a valid folder again: what fails now is the setting
  EXPECT_NO_THROW(load_captioned_images(dir.path().string(), o, "t"));
  o.max_words = 0;
  EXPECT_THROW(load_captioned_images(dir.path().string(), o, "t"), Error);
  o.max_words = 4;
  io::write_npy(dir.file("f.npy"), torch::full({2, 4, 4}, 3.0f));
  test::write_text(dir.file("c2.txt"), "one\r\ntwo\r\n");
  o.captions = dir.file("c2.txt");
  EXPECT_THROW(load_captioned_images(dir.file("f.npy"), o, "t"), Error);  // float images outside [-1, 1]
  io::write_npy(dir.file("f.npy"), torch::full({2, 4, 4}, 0.5f));
  auto d = load_captioned_images(dir.file("f.npy"), o, "t");
  EXPECT_EQ(d->captions(), (std::vector<std::string>{"one", "two"}));  // no '\r' from CRLF files
  EXPECT_THROW(d->encode_prompts({"one two one two one"}), Error);       // longer than max_words
}
