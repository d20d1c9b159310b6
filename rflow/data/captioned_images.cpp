#include "rflow/data/captioned_images.h"

#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/io/image_file.h"
#include "rflow/io/npy.h"
#include "rflow/text/caption_context.h"
#include "rflow/text/word_tokenizer.h"

namespace fs = std::filesystem;

namespace rflow {

void CaptionedImagesOptions::validate(const std::string& where) const {
  RF_CHECK(channels == 1 || channels == 3, "channels must be 1 or 3", where + ".channels", "");
  RF_CHECK(max_words >= 1 && max_words <= 4096, "max_words must be in [1, 4096]", where + ".max_words", "e.g. 32");
  RF_CHECK(max_chars >= 0 && max_chars <= 4096, "max_chars must be in [0, 4096]", where + ".max_chars", "0 = words only");
}

CaptionedImages::CaptionedImages(at::Tensor images, std::vector<std::string> captions,
                                 std::unique_ptr<text::Tokenizer> words, int64_t max_words, int64_t max_chars,
                                 std::string desc)
    : images_(std::move(images)), captions_(std::move(captions)), words_(std::move(words)), max_words_(max_words),
      max_chars_(max_chars), desc_(std::move(desc)) {
  RF_CHECK(images_.dim() == 4 && images_.size(0) == static_cast<int64_t>(captions_.size()),
           std::to_string(images_.size(0)) + " images but " + std::to_string(captions_.size()) + " captions", desc_,
           "one caption per image");
  context_ = encode(captions_);
}

std::vector<int64_t> CaptionedImages::sample_shape() const {
  return {images_.size(1), images_.size(2), images_.size(3)};
}

Cond CaptionedImages::encode(const std::vector<std::string>& texts) const {
  const text::TokenBatch b = text::caption_context(*words_, texts, max_words_, max_chars_);
  Cond c;
  c.context = b.ids, c.mask = b.mask;
  return c;
}

Draw CaptionedImages::draw(int64_t n, const at::Generator& rng) {
  const at::Tensor idx = torch::randint(0, images_.size(0), {n}, rng, torch::kInt64);
  at::Tensor x = images_.index_select(0, idx);
  x = x.scalar_type() == torch::kUInt8 ? x.to(torch::kFloat32).div_(127.5).sub_(1.0) : x.to(torch::kFloat32);
  Draw d{x.contiguous(), {}};
  d.cond.context = context_.context.index_select(0, idx), d.cond.mask = context_.mask.index_select(0, idx);
  return d;
}

Cond CaptionedImages::encode_prompts(const std::vector<std::string>& prompts) const {
  RF_CHECK(!prompts.empty(), "no prompts", "--prompt", "e.g. --prompt \"" + captions_.front() + "\"");
  for (const auto& p : prompts) {
    const auto ids = words_->encode(p);
    std::string unknown;
    for (const auto& w : text::WordTokenizer::split(words_->normalise(p)))
      if (words_->encode(w) == std::vector<int64_t>{text::kUnk}) unknown += (unknown.empty() ? "'" : ", '") + w + "'";
    RF_CHECK(std::find(ids.begin(), ids.end(), text::kUnk) == ids.end(),
             "'" + p + "' has words the model never read: " + (unknown.empty() ? "some" : unknown), "--prompt",
             "use words of the training captions (e.g. \"" + captions_.front() + "\")");
    RF_CHECK(static_cast<int64_t>(ids.size()) <= max_words_,
             "'" + p + "' has " + std::to_string(ids.size()) + " tokens; the model reads " + std::to_string(max_words_),
             "--prompt", "shorten the prompt (the training captions were cut at max_words too)");
  }
  return encode(prompts);
}

std::vector<std::string> CaptionedImages::decode_prompts(const Cond& c) const {
  RF_CHECK(c.context.defined() && c.context.dim() == 2 && c.context.size(1) == context_len(),
           "not a token context of this data set", desc_, "");
  return text::decode_batch(*words_, c.context.narrow(1, 0, max_words_));
}

namespace {

// captions.tsv: "file<TAB>caption" per line (blank lines and # comments skipped).
std::vector<std::pair<std::string, std::string>> read_tsv(const std::string& path) {
  std::ifstream in(path);
  RF_CHECK(in.good(), "cannot read the captions", path, "a folder of captioned images needs captions.tsv: file<TAB>caption per line");
  std::vector<std::pair<std::string, std::string>> rows;
  int64_t line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const size_t tab = line.find('\t');
    RF_CHECK(tab != std::string::npos && tab > 0 && tab + 1 < line.size(), "line " + std::to_string(line_no) +
             " is not file<TAB>caption", path, "one image file and its caption per line, separated by a tab");
    rows.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }
  RF_CHECK(!rows.empty(), "no captioned images listed", path, "file<TAB>caption per line");
  return rows;
}

at::Tensor read_folder_images(const fs::path& dir, const std::vector<std::pair<std::string, std::string>>& rows,
                              int channels) {
  std::vector<at::Tensor> ims;
  for (const auto& [file, caption] : rows) {
    const fs::path f = dir / file;
    RF_CHECK(fs::is_regular_file(f), "no such image", f.string(), "captions.tsv names files relative to its folder");
    at::Tensor im = io::read_image(f.string(), channels).permute({2, 0, 1});
    RF_CHECK(ims.empty() || im.sizes() == ims.front().sizes(), "image size " + std::to_string(im.size(2)) + "×" +
             std::to_string(im.size(1)) + " differs from the first image's", f.string(), "resize the images to one size");
    ims.push_back(im);
  }
  return torch::stack(ims).contiguous();
}

at::Tensor read_npy_images(const std::string& path) {
  at::Tensor t = io::read_npy(path);
  RF_CHECK((t.dim() == 3 || t.dim() == 4) && (t.scalar_type() == torch::kUInt8 || t.is_floating_point()),
           "captioned image arrays must be uint8 or float, N×H×W or N×C×H×W", path, "");
  if (t.dim() == 3) t = t.unsqueeze(1);
  if (!t.is_floating_point()) return t.contiguous();
  t = t.to(torch::kFloat32).contiguous();
  RF_CHECK(t.numel() == 0 || (t.min().item<float>() >= -1.0f && t.max().item<float>() <= 1.0f),
           "float images must lie in [-1, 1]", path, "scale them (x / 127.5 - 1 for 8-bit values), or store uint8");
  return t;
}

std::unique_ptr<text::Tokenizer> caption_words(const std::vector<std::string>& captions, const CaptionedImagesOptions& o) {
  if (!o.tokenizer.empty()) return text::load_tokenizer(o.tokenizer);
  text::TokenizerOptions to;
  to.kind = "word";
  return text::train_tokenizer(captions, to);
}

}  // namespace

std::unique_ptr<CaptionedImages> load_captioned_images(const std::string& path, const CaptionedImagesOptions& o,
                                                       const std::string& where) {
  o.validate(where);
  RF_CHECK(!path.empty(), "captioned images need a path", where + ".path", "a folder with captions.tsv, or an .npy image array");
  at::Tensor images;
  std::vector<std::string> captions;
  if (fs::is_directory(path)) {
    const auto rows = read_tsv(o.captions.empty() ? (fs::path(path) / "captions.tsv").string() : o.captions);
    images = read_folder_images(path, rows, static_cast<int>(o.channels));
    for (const auto& r : rows) captions.push_back(r.second);
  } else {
    RF_CHECK(!o.captions.empty(), "an image array needs its captions file", where + ".captioned_images.captions",
             "a text file with one caption per line, in the array's order");
    images = read_npy_images(path);
    std::ifstream in(o.captions);
    RF_CHECK(in.good(), "cannot read the captions", o.captions, "one caption per line");
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();  // files written on Windows
      captions.push_back(line);
    }
    while (!captions.empty() && captions.back().empty()) captions.pop_back();
  }
  auto words = caption_words(captions, o);
  const std::string desc = "captioned_images(" + path + ", " + std::to_string(captions.size()) + " images, " +
                           std::to_string(words->vocab_size()) + " " + words->kind() + " tokens)";
  return std::make_unique<CaptionedImages>(images, std::move(captions), std::move(words), o.max_words, o.max_chars, desc);
}

DistributionEntry captioned_images_entry() {
  return {"captioned_images", [] { return AnyOptions::of<CaptionedImagesOptions>(); },
          [](const DistributionConfig& c, const std::vector<int64_t>&, const std::string& where) -> std::unique_ptr<Distribution> {
            return load_captioned_images(c.path, c.get<CaptionedImagesOptions>("captioned_images"), where);
          }};
}

}  // namespace rflow
