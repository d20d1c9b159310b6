// Captioned composites: every caption names the garments that are in the picture, where they are,
// for every layout; captions parse back; draws are deterministic by seed and keep the contract
// (token ids and mask, the null prompt all pad).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/data/fashion_composites.h"
#include "rflow/data/image_dataset.h"
#include "rflow/text/char_tokenizer.h"
#include "tests/test_util.h"

using namespace rflow;

namespace {

bool have_fmnist() { return std::filesystem::exists(std::string(kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz"); }

// Composites of ten synthetic garments whose pixels encode their class (class c: every pixel 20·c + 5),
// so the test can read each cell's class back from the picture.
std::unique_ptr<FashionComposites> synthetic(const std::string& layout) {
  at::Tensor labels = torch::arange(10, torch::kInt64);
  at::Tensor images = (labels * 20 + 5).to(torch::kUInt8).view({10, 1, 1, 1}).expand({10, 1, 28, 28}).contiguous();
  return std::make_unique<FashionComposites>(images, labels, composite_layouts_named(layout, "test"), 20, 0, "synthetic");
}

int64_t class_in_cell(const at::Tensor& x, int64_t r, int64_t c) {
  const at::Tensor cell = x.slice(1, 28 * r, 28 * (r + 1)).slice(2, 28 * c, 28 * (c + 1));
  EXPECT_LT((cell - cell.mean()).abs().max().item<double>(), 1e-5) << "a cell holds one garment";
  return std::lround(((cell.mean().item<double>() + 1.0) * 127.5 - 5.0) / 20.0);
}

}  // namespace

TEST(FashionComposites, EveryCaptionNamesTheGarmentsInReadingOrderForEveryLayout) {
  for (const auto& layout : composite_layouts()) {
    auto d = synthetic(layout.name);
    EXPECT_EQ(d->sample_shape(), (std::vector<int64_t>{1, 28 * layout.rows, 28 * layout.cols}));
    const Draw draw = d->sample(40);
    const auto captions = d->decode_prompts(draw.cond);
    for (int64_t i = 0; i < 40; ++i) {
      const ParsedCaption p = parse_caption(captions[i]);
      EXPECT_EQ(p.layout.name, layout.name) << captions[i];
      ASSERT_EQ(static_cast<int64_t>(p.classes.size()), layout.cells());
      for (int64_t k = 0; k < layout.cells(); ++k)
        EXPECT_EQ(class_in_cell(draw.x[i], k / layout.cols, k % layout.cols), p.classes[k])
            << layout.name << ": " << captions[i] << ", cell " << k;
    }
  }
}

TEST(FashionComposites, CaptionsReadAsWrittenAndParseBack) {
  const auto& row2 = composite_layout("row2", "test");
  EXPECT_EQ(composite_caption({7, 8}, row2), "a sneaker left of a bag");
  EXPECT_EQ(composite_caption({4, 9}, composite_layout("col2", "test")), "a coat above an ankle boot");
  EXPECT_EQ(composite_caption({0, 1, 2, 3}, composite_layout("grid", "test")),
            "a t-shirt left of a trouser above a pullover left of a dress");
  for (const auto& l : composite_layouts())
    for (int64_t c = 0; c < 10; ++c) {
      std::vector<int64_t> classes;
      for (int64_t k = 0; k < l.cells(); ++k) classes.push_back((c + 3 * k) % 10);
      const ParsedCaption p = parse_caption(composite_caption(classes, l));
      EXPECT_EQ(p.layout.name, l.name);
      EXPECT_EQ(p.classes, classes);
    }
  EXPECT_EQ(parse_caption("  A Bag   above a SNEAKER ").classes, (std::vector<int64_t>{8, 7}));
  EXPECT_THROW(parse_caption("a hat left of a bag"), Error);
  EXPECT_THROW(parse_caption("a bag left of a coat above a shirt"), Error);  // rows of 2 and 1
  EXPECT_THROW(parse_caption("a bag left of a bag left of a bag left of a bag"), Error);  // no 1×4 layout
  EXPECT_THROW(parse_caption(""), Error);
  EXPECT_THROW(composite_layout("row4", "test"), Error);
  // The longest caption fits the default max_words and uses only known words.
  const auto tok = caption_tokenizer();
  const auto ids = tok->encode(composite_caption({9, 9, 9, 9}, composite_layout("grid", "test")));
  EXPECT_EQ(ids.size(), 17u);
  EXPECT_EQ(tok->vocab_size(), 20);  // 16 words (configs/t2i_fmnist.toml's model.dit.text.words) and 4 specials
  EXPECT_LE(static_cast<int64_t>(ids.size()), FashionCompositesOptions{}.max_words);
  for (int64_t i : ids) EXPECT_NE(i, text::kUnk);
}

TEST(FashionComposites, DrawsAreDeterministicBySeedAndKeepTheTextContract) {
  auto d = synthetic("grid");
  auto gen = [] {
    at::Generator g = at::detail::createCPUGenerator(42);
    return g;
  };
  const Draw a = d->sample(16, gen()), b = d->sample(16, gen());
  EXPECT_TRUE(torch::equal(a.x, b.x));
  EXPECT_TRUE(torch::equal(a.cond.context, b.cond.context));
  EXPECT_EQ(a.cond.context.scalar_type(), torch::kInt64);
  EXPECT_EQ(a.cond.context.sizes(), (std::vector<int64_t>{16, 20}));
  // Tokens where the mask says, pad elsewhere; the mask counts each caption's tokens.
  EXPECT_TRUE(torch::equal(a.cond.context.eq(text::kPad), a.cond.mask.eq(0)));
  const auto captions = d->decode_prompts(a.cond);
  for (int64_t i = 0; i < 16; ++i)
    EXPECT_EQ(a.cond.mask[i].sum().item<double>(), double(d->tokenizer()->encode(captions[i]).size()));
  // The null prompt of guidance is all pad with an empty mask.
  const Cond null = a.cond.null_like();
  EXPECT_TRUE(torch::equal(null.context, torch::zeros_like(a.cond.context)));
  EXPECT_EQ(null.mask.sum().item<double>(), 0.0);
  EXPECT_TRUE(a.x.min().item<double>() >= -1.0 && a.x.max().item<double>() <= 1.0);
}

TEST(FashionComposites, RealGarmentsFromTheTestSplitThroughTheRegistry) {
  RFLOW_TEST_REQUIRES(have_fmnist(), "Debian's dataset-fashion-mnist");
  DistributionConfig c;
  c.name = "fashion_composites";
  c.get<FashionCompositesOptions>("fashion_composites").split = "test";
  c.get<FashionCompositesOptions>("fashion_composites").layout = "col3";
  c.get<FashionCompositesOptions>("fashion_composites").max_chars = 80;
  auto d = make_distribution(c, {}, "data.target");
  EXPECT_EQ(d->sample_shape(), (std::vector<int64_t>{1, 84, 28}));
  EXPECT_EQ(d->kind(), "composites");
  EXPECT_EQ(d->context_len(), 100);
  const Draw draw = d->sample(8);
  // Words, then the same caption's characters.
  const auto words = d->decode_prompts(draw.cond);
  const auto chars = text::decode_batch(text::CharTokenizer(), draw.cond.context.narrow(1, 20, 80));
  for (size_t i = 0; i < words.size(); ++i) {
    EXPECT_EQ(parse_caption(words[i]).classes.size(), 3u) << words[i];
    EXPECT_EQ(chars[i], words[i]);
    EXPECT_EQ(draw.cond.mask[i].narrow(0, 20, 80).sum().item<double>(), double(chars[i].size()));
  }
  c.get<FashionCompositesOptions>("fashion_composites").layout = "row4";
  EXPECT_THROW(make_distribution(c, {}, "data.target"), Error);
}

TEST(FashionComposites, SeveralLayoutsDrawEachCallInOneAndEveryLayoutInTurn) {
  auto d = synthetic("single, row2,col2");
  const std::vector<std::vector<int64_t>> shapes{{1, 28, 28}, {1, 28, 56}, {1, 56, 28}};
  EXPECT_EQ(d->sample_shapes(), shapes);
  EXPECT_EQ(d->sample_shape(), shapes[0]);
  EXPECT_EQ(d->shape_name(shapes[2]), "col2");
  std::map<std::vector<int64_t>, int> seen;
  for (int i = 0; i < 300; ++i) {
    const Draw draw = d->sample(3);
    const auto shape = draw.x.sizes().slice(1).vec();
    ++seen[shape];
    // The captions name the layout the pixels are in.
    for (const auto& c : d->decode_prompts(draw.cond)) EXPECT_EQ(parse_caption(c).layout.shape(), shape) << c;
  }
  ASSERT_EQ(seen.size(), 3u);
  for (const auto& [shape, count] : seen) EXPECT_NEAR(count, 100, 30) << c10::str(shape);  // uniform: sd ≈ 8
  // Asked for a shape: drawn in it; a shape it does not draw is refused, naming what it does.
  for (const auto& shape : shapes) EXPECT_EQ(d->sample(2, {}, shape).x.sizes().slice(1).vec(), shape);
  EXPECT_THROW(d->sample(2, {}, {1, 56, 56}), Error);
  // Prompts of any of its layouts; the prompt's shape is its layout's.
  EXPECT_EQ(d->prompt_shape("a bag above a coat"), shapes[2]);
  EXPECT_NO_THROW(d->encode_prompts({"a bag", "a bag left of a coat"}));
  try {
    d->encode_prompts({"a bag left of a coat left of a shirt"});
    ADD_FAILURE() << "a row of three is not among its layouts";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("single, row2, col2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(synthetic("row2,row2"), Error);
  EXPECT_EQ(composite_layouts_named("all", "test").size(), composite_layouts().size());
  // One layout draws no number for the choice: its draws are what a one-layout set always drew.
  at::Generator g1 = at::detail::createCPUGenerator(5), g2 = at::detail::createCPUGenerator(5);
  EXPECT_TRUE(torch::equal(synthetic("row2")->sample(4, g1).x, synthetic("row2")->sample(4, g2, {1, 28, 56}).x));
}
