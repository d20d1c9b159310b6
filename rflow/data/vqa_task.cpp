#include "rflow/data/vqa_task.h"

#include <algorithm>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/data/image_dataset.h"
#include "rflow/text/word_tokenizer.h"

namespace rflow {

std::string clean_question(const std::string& q) {
  std::string s = text::WordTokenizer::normalised(q);
  while (!s.empty() && (s.back() == '?' || s.back() == '.' || s.back() == ' ')) s.pop_back();
  return s;
}

std::vector<int64_t> vqa_prompt(const text::Tokenizer& tok, const std::string& question, int64_t image_tokens,
                                int64_t image_id, int64_t answer_id) {
  const std::string q = clean_question(question);
  RF_CHECK(!q.empty(), "the question is empty", "question", "e.g. \"describe this image\"");
  const std::vector<int64_t> words = tok.encode(q);
  std::string unknown;
  const auto split = text::WordTokenizer::split(q);
  for (size_t i = 0; i < words.size() && i < split.size(); ++i)
    if (words[i] == text::kUnk) unknown += (unknown.empty() ? "'" : ", '") + split[i] + "'";
  RF_CHECK(unknown.empty(), "'" + q + "' has words the model never read: " + unknown, "question",
           "ask e.g. \"describe this image\", \"what is on the left\", \"how many bags are there\"");
  std::vector<int64_t> out{text::kBos};
  out.insert(out.end(), size_t(image_tokens), image_id);
  out.insert(out.end(), words.begin(), words.end());
  out.push_back(answer_id);
  return out;
}

VqaTask::VqaTask(const std::string& fashion_dir, const std::string& split, const std::string& layouts,
                 std::vector<std::string> kinds, TilingOptions tiling, int64_t side)
    : layouts_(composite_layouts_named(layouts, "data.layouts")), kinds_(std::move(kinds)), tiling_(std::move(tiling)),
      side_(side) {
  auto garments = load_fashion_mnist(fashion_dir.empty() ? kFashionMnistDir : fashion_dir, split, /*flip=*/false);
  labels_ = garments->labels();
  composites_ = std::make_unique<FashionComposites>(garments->stored(), labels_, layouts_, 20, 0, "vqa(" + split + ")");
}

std::vector<VqaExample> VqaTask::draw(const CompositeLayout& layout, int64_t n, std::mt19937_64& rng,
                                      const std::string& kind) const {
  std::vector<VqaExample> out;
  const int64_t N = labels_.size(0);
  const int64_t* labels = labels_.data_ptr<int64_t>();
  std::uniform_int_distribution<int64_t> pick(0, N - 1);
  for (int64_t i = 0; i < n; ++i) {
    VqaExample e;
    std::vector<int64_t> garments;
    for (int64_t k = 0; k < layout.cells(); ++k) garments.push_back(pick(rng)), e.classes.push_back(labels[garments.back()]);
    e.image = composites_->compose(garments, layout);
    e.layout = layout.name;
    std::optional<ImageQuestion> q;
    // A random kind that applies (where asks nothing of a single garment).
    for (int tries = 0; !q && tries < 64; ++tries) {
      const std::string& k = kind.empty() ? kinds_[std::uniform_int_distribution<size_t>(0, kinds_.size() - 1)(rng)] : kind;
      q = question_kinds().get(k).ask(e.classes, layout, rng);
      if (!q && !kind.empty()) break;
    }
    if (!q) continue;
    e.question = *q;
    out.push_back(std::move(e));
  }
  return out;
}

VqaBatch VqaTask::batch(const std::vector<VqaExample>& ex, const text::Tokenizer& tok, int64_t image_id, int64_t answer_id,
                        bool with_answers, int64_t image_tokens) const {
  RF_CHECK(!ex.empty(), "an empty batch", "vqa batch", "");
  VqaBatch b;
  std::vector<at::Tensor> tiles, images;
  std::vector<std::vector<int64_t>> rows;
  std::vector<size_t> answer_start;
  for (const auto& e : ex) {
    TiledImage t = tile_image(e.image, tiling_);
    if (tiles.empty()) b.grid = t.grid;
    RF_CHECK(t.grid == b.grid, "images of one batch must share a tile grid", "vqa batch", "batch images by grid");
    tiles.push_back(t.tiles);
    images.push_back(e.image);
    const int64_t n = image_tokens >= 0 ? image_tokens : image_token_count(b.grid, side_);
    rows.push_back(vqa_prompt(tok, e.question.question, n, image_id, answer_id));
    answer_start.push_back(rows.back().size());
    if (with_answers) {
      const auto a = tok.encode(e.question.answer);
      rows.back().insert(rows.back().end(), a.begin(), a.end());
      rows.back().push_back(text::kEos);
    }
  }
  size_t T = 0;
  for (const auto& r : rows) T = std::max(T, r.size());
  b.ids = torch::full({int64_t(ex.size()), int64_t(T)}, text::kPad, torch::kInt64);
  b.supervise = torch::zeros({int64_t(ex.size()), int64_t(T)}, torch::kFloat32);
  auto ia = b.ids.accessor<int64_t, 2>();
  auto sa = b.supervise.accessor<float, 2>();
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t k = 0; k < rows[i].size(); ++k) {
      ia[int64_t(i)][int64_t(k)] = rows[i][k];
      if (with_answers && k >= answer_start[i]) sa[int64_t(i)][int64_t(k)] = 1.0f;
    }
  b.tiles = torch::stack(tiles);
  if (std::all_of(images.begin(), images.end(), [&](const at::Tensor& i) { return i.sizes() == images[0].sizes(); }))
    b.images = torch::stack(images);
  return b;
}

}  // namespace rflow
