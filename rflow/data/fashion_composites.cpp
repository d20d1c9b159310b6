#include "rflow/data/fashion_composites.h"

#include <algorithm>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/data/image_dataset.h"
#include "rflow/text/caption_context.h"
#include "rflow/text/word_tokenizer.h"

namespace rflow {

const std::vector<CompositeLayout>& composite_layouts() {
  static const std::vector<CompositeLayout> l{{"single", 1, 1}, {"row2", 1, 2}, {"col2", 2, 1},
                                              {"row3", 1, 3},   {"col3", 3, 1}, {"grid", 2, 2}};
  return l;
}

const CompositeLayout& composite_layout(const std::string& name, const std::string& where) {
  std::vector<std::string> names;
  for (const auto& l : composite_layouts()) {
    if (l.name == name) return l;
    names.push_back(l.name);
  }
  const std::string near = closest_name(names, name);
  throw Error("unknown composite layout '" + name + "'", where,
              (near.empty() ? "" : "did you mean '" + near + "'? ") + "single, row2, col2, row3, col3 or grid");
}

const CompositeLayout* composite_layout_of(int64_t rows, int64_t cols) {
  for (const auto& l : composite_layouts())
    if (l.rows == rows && l.cols == cols) return &l;
  return nullptr;
}

std::vector<CompositeLayout> composite_layouts_named(const std::string& list, const std::string& where) {
  if (list == "all") return composite_layouts();
  std::vector<CompositeLayout> out;
  size_t a = 0;
  while (a <= list.size()) {
    const size_t b = std::min(list.find(',', a), list.size());
    std::string name = list.substr(a, b - a);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    const CompositeLayout& l = composite_layout(name, where);
    for (const auto& o : out)
      RF_CHECK(o.name != l.name, "layout '" + l.name + "' is named twice", where, "name each layout once");
    out.push_back(l);
    a = b + 1;
  }
  return out;
}

const std::vector<std::string>& garment_names() {
  static const std::vector<std::string> n{"t-shirt", "trouser", "pullover", "dress", "coat",
                                          "sandal",  "shirt",   "sneaker",  "bag",   "ankle boot"};
  return n;
}

std::string garment_with_article(int64_t c) {
  RF_CHECK(c >= 0 && c < 10, "class " + std::to_string(c) + " is not a garment", "composite caption", "classes are 0–9");
  const std::string& n = garment_names()[static_cast<size_t>(c)];
  return (n[0] == 'a' ? "an " : "a ") + n;
}

namespace {

// Splits `s` at each occurrence of `sep`.
std::vector<std::string> split_on(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t a = 0;
  for (size_t b; (b = s.find(sep, a)) != std::string::npos; a = b + sep.size()) out.push_back(s.substr(a, b - a));
  out.push_back(s.substr(a));
  return out;
}

int64_t garment_of(const std::string& phrase, const std::string& caption) {
  for (size_t c = 0; c < garment_names().size(); ++c)
    if (phrase == garment_with_article(static_cast<int64_t>(c))) return static_cast<int64_t>(c);
  throw Error("'" + phrase + "' is not a garment", "caption '" + caption + "'",
              "name each garment with its article: a t-shirt, a trouser, a pullover, a dress, a coat, a sandal, a shirt, "
              "a sneaker, a bag, an ankle boot");
}
}  // namespace

std::string composite_caption(const std::vector<int64_t>& classes, const CompositeLayout& layout) {
  RF_CHECK(static_cast<int64_t>(classes.size()) == layout.cells(), "a " + layout.name + " composite has " +
           std::to_string(layout.cells()) + " garments", "composite caption", "");
  std::string out;
  for (int64_t r = 0; r < layout.rows; ++r) {
    if (r) out += " above ";
    for (int64_t c = 0; c < layout.cols; ++c)
      out += (c ? " left of " : "") + garment_with_article(classes[static_cast<size_t>(r * layout.cols + c)]);
  }
  return out;
}

ParsedCaption parse_caption(const std::string& caption) {
  const std::string norm = text::WordTokenizer::normalised(caption);
  RF_CHECK(!norm.empty(), "an empty caption", "parse_caption", "e.g. \"a sneaker left of a bag\"");
  const auto rows = split_on(norm, " above ");
  ParsedCaption p;
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    const auto cells = split_on(row, " left of ");
    widths.push_back(cells.size());
    for (const auto& cell : cells) p.classes.push_back(garment_of(cell, caption));
  }
  for (size_t w : widths)
    RF_CHECK(w == widths[0], "rows of different lengths", "caption '" + caption + "'", "every row names as many garments");
  for (const auto& l : composite_layouts())
    if (l.rows == static_cast<int64_t>(rows.size()) && l.cols == static_cast<int64_t>(widths[0])) p.layout = l;
  RF_CHECK(!p.layout.name.empty(), "no layout has " + std::to_string(rows.size()) + " rows of " + std::to_string(widths[0]),
           "caption '" + caption + "'", "one row or column of up to 3, or a 2×2 grid");
  return p;
}

std::unique_ptr<text::Tokenizer> caption_tokenizer() {
  // Every word the grammar uses, each garment once in each position: the vocabulary and its ids
  // depend on the grammar only.
  std::vector<std::string> corpus;
  for (size_t c = 0; c < garment_names().size(); ++c)
    corpus.push_back(composite_caption({int64_t(c), int64_t(c), int64_t(c), int64_t(c)}, composite_layout("grid", "")));
  text::TokenizerOptions o;
  o.kind = "word";
  return text::train_tokenizer(corpus, o);
}

void FashionCompositesOptions::validate(const std::string& where) const {
  FashionMnistOptions{split}.validate(where);
  composite_layouts_named(layout, where + ".layout");
  RF_CHECK(max_words >= 1 && max_words <= 256, "max_words must be in [1, 256]", where + ".max_words",
           "a 2×2 caption has 13 to 17 tokens");
  RF_CHECK(max_chars >= 0 && max_chars <= 1024, "max_chars must be in [0, 1024]", where + ".max_chars",
           "0 = words only; a 2×2 caption has up to 77 characters");
}

FashionComposites::FashionComposites(at::Tensor images, at::Tensor labels, std::vector<CompositeLayout> layouts,
                                     int64_t max_words, int64_t max_chars, std::string desc)
    : images_(std::move(images)), labels_(std::move(labels)), layouts_(std::move(layouts)), max_words_(max_words),
      max_chars_(max_chars), desc_(std::move(desc)), tokenizer_(caption_tokenizer()) {
  RF_CHECK(!layouts_.empty(), "composites need a layout", desc_, "name one: single, row2, col2, row3, col3 or grid");
  RF_CHECK(images_.scalar_type() == torch::kUInt8 && images_.dim() == 4 && images_.size(1) == 1 && images_.size(2) == 28 && images_.size(3) == 28 &&
               labels_.defined() && labels_.size(0) == images_.size(0) && images_.size(0) > 0,
           "composites need labelled 28×28 grey garments", desc_, "use Fashion-MNIST (or an IDX set with labels)");
  labels_ = labels_.to(torch::kInt64).contiguous();
}

std::vector<std::vector<int64_t>> FashionComposites::sample_shapes() const {
  std::vector<std::vector<int64_t>> out;
  for (const auto& l : layouts_) out.push_back(l.shape());
  return out;
}

std::string FashionComposites::shape_name(const std::vector<int64_t>& shape) const {
  if (layouts_.size() == 1) return "";
  for (const auto& l : layouts_)
    if (l.shape() == shape) return l.name;
  return Distribution::shape_name(shape);
}

std::vector<int64_t> FashionComposites::prompt_shape(const std::string& prompt) const {
  const ParsedCaption parsed = parse_caption(prompt);
  check_layout(prompt, parsed.layout);
  return parsed.layout.shape();
}

bool FashionComposites::draws(const std::string& name) const {
  return std::any_of(layouts_.begin(), layouts_.end(), [&](const CompositeLayout& l) { return l.name == name; });
}

void FashionComposites::check_layout(const std::string& prompt, const CompositeLayout& layout) const {
  if (draws(layout.name)) return;
  std::string names;
  for (const auto& l : layouts_) names += (names.empty() ? "" : ", ") + l.name;
  const CompositeLayout& first = layouts_[0];
  throw Error("'" + prompt + "' describes a " + layout.name + " composite; this model draws " + names, "--prompt",
              "e.g. \"" + composite_caption(std::vector<int64_t>(static_cast<size_t>(first.cells()), 8), first) + "\"");
}

void FashionComposites::paste(const int64_t* garments, const CompositeLayout& layout, at::Tensor& out) const {
  for (int64_t k = 0; k < layout.cells(); ++k) {
    const int64_t r = k / layout.cols, c = k % layout.cols;
    out.slice(1, 28 * r, 28 * (r + 1)).slice(2, 28 * c, 28 * (c + 1)).copy_(images_[garments[k]]);
  }
}

at::Tensor FashionComposites::compose(const std::vector<int64_t>& garments, const CompositeLayout& layout) const {
  RF_CHECK(static_cast<int64_t>(garments.size()) == layout.cells(), "wrong number of garments", desc_, "");
  at::Tensor x = torch::empty(layout.shape(), torch::kUInt8);
  paste(garments.data(), layout, x);
  return x.to(torch::kFloat32).div_(127.5).sub_(1.0);
}

std::string FashionComposites::caption_of(const std::vector<int64_t>& garments, const CompositeLayout& layout) const {
  std::vector<int64_t> classes;
  const int64_t* labels = labels_.data_ptr<int64_t>();
  for (int64_t g : garments) classes.push_back(labels[g]);
  return composite_caption(classes, layout);
}

Draw FashionComposites::draw(int64_t n, const at::Generator& rng) {
  // Several layouts: the whole draw in one, chosen uniformly (a training batch is one bucket). One
  // layout draws no number for it, so its draws are what they were before layouts could be mixed.
  if (layouts_.size() == 1) return draw_in(layouts_[0], n, rng);
  const int64_t k = torch::randint(0, static_cast<int64_t>(layouts_.size()), {1}, rng, torch::kInt64).item<int64_t>();
  return draw_in(layouts_[static_cast<size_t>(k)], n, rng);
}

Draw FashionComposites::draw_shaped(const std::vector<int64_t>& shape, int64_t n, const at::Generator& rng) {
  for (const auto& l : layouts_)
    if (l.shape() == shape) return draw_in(l, n, rng);
  return Distribution::draw_shaped(shape, n, rng);  // says which shapes it draws
}

Draw FashionComposites::draw_in(const CompositeLayout& layout, int64_t n, const at::Generator& rng) const {
  const at::Tensor idx = torch::randint(0, images_.size(0), {n, layout.cells()}, rng, torch::kInt64);
  const auto acc = idx.accessor<int64_t, 2>();
  // Pasted as bytes into one batch and converted once.
  std::vector<int64_t> shape{n};
  for (int64_t d : layout.shape()) shape.push_back(d);
  at::Tensor x = torch::empty(shape, torch::kUInt8);
  std::vector<std::string> captions;
  for (int64_t i = 0; i < n; ++i) {
    at::Tensor row = x[i];
    paste(acc[i].data(), layout, row);
    captions.push_back(caption_of(std::vector<int64_t>(acc[i].data(), acc[i].data() + layout.cells()), layout));
  }
  return {x.to(torch::kFloat32).div_(127.5).sub_(1.0), encode(captions)};
}

Cond FashionComposites::encode(const std::vector<std::string>& captions) const {
  const text::TokenBatch b = text::caption_context(*tokenizer_, captions, max_words_, max_chars_);
  Cond c;
  c.context = b.ids, c.mask = b.mask;
  return c;
}

Cond FashionComposites::encode_prompts(const std::vector<std::string>& prompts) const {
  RF_CHECK(!prompts.empty(), "no prompts", "--prompt", "e.g. --prompt \"a sneaker left of a bag\"");
  for (const auto& p : prompts) check_layout(p, parse_caption(p).layout);
  return encode(prompts);
}

std::vector<std::string> FashionComposites::decode_prompts(const Cond& c) const {
  RF_CHECK(c.context.defined() && c.context.dim() == 2 && c.context.size(1) == context_len(),
           "not a token context of this data set", desc_, "");
  return text::decode_batch(*tokenizer_, c.context.narrow(1, 0, max_words_));
}

DistributionEntry fashion_composites_entry() {
  return {"fashion_composites", [] { return AnyOptions::of<FashionCompositesOptions>(); },
          [](const DistributionConfig& c, const std::vector<int64_t>&, const std::string& where) -> std::unique_ptr<Distribution> {
            const auto& o = c.get<FashionCompositesOptions>("fashion_composites");
            o.validate(where + ".fashion_composites");
            auto garments = load_fashion_mnist(c.path.empty() ? kFashionMnistDir : c.path, o.split, /*flip=*/false);
            return std::make_unique<FashionComposites>(
                garments->stored(), garments->labels(), composite_layouts_named(o.layout, where + ".fashion_composites.layout"),
                o.max_words, o.max_chars,
                "fashion_composites(" + o.split + ", " + o.layout + ", " + std::to_string(garments->size()) + " garments)");
          }};
}

}  // namespace rflow
