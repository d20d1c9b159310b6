#include "rflow/eval/composite_scorer.h"

#include <filesystem>

#include <fmt/format.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/data/fashion_composites.h"
#include "rflow/data/image_dataset.h"
#include "rflow/eval/fid_reference.h"
#include "rflow/io/atomic_file.h"
#include "rflow/io/image_file.h"

namespace fs = std::filesystem;

namespace rflow::eval {

at::Tensor composite_cells(const at::Tensor& images) {
  RF_CHECK(images.dim() == 4 && images.size(2) % 28 == 0 && images.size(3) % 28 == 0,
           "composites are [N, C, 28·rows, 28·cols], got " + c10::str(images.sizes()), "composite scorer", "");
  const int64_t N = images.size(0), C = images.size(1), R = images.size(2) / 28, K = images.size(3) / 28;
  return images.reshape({N, C, R, 28, K, 28}).permute({0, 2, 4, 1, 3, 5}).reshape({N * R * K, C, 28, 28});
}

std::pair<at::Tensor, int64_t> asked_classes(const std::vector<std::string>& captions) {
  RF_CHECK(!captions.empty(), "no captions to judge against", "composite scorer", "");
  std::vector<int64_t> all;
  std::string layout;
  for (const auto& c : captions) {
    const ParsedCaption p = parse_caption(c);
    RF_CHECK(layout.empty() || p.layout.name == layout, "captions of different layouts", "composite scorer", "");
    layout = p.layout.name;
    all.insert(all.end(), p.classes.begin(), p.classes.end());
  }
  const int64_t cells = static_cast<int64_t>(all.size() / captions.size());
  return {torch::tensor(all, torch::kInt64), cells};
}

double all_cells_right(const at::Tensor& hits, int64_t cells) {
  return hits.view({-1, cells}).all(1).to(torch::kFloat64).mean().item<double>();
}

namespace {

class CompositeScorer : public Scorer {
 public:
  explicit CompositeScorer(ScorerSetup s) : s_(std::move(s)) {
    RF_CHECK(s_.captions.size() == static_cast<size_t>(s_.reference.size(0)), "the composites' captions are missing",
             "composite scorer", "the eval draws carry them for captioned data");
    ref_ = fid_reference(s_.fidnet, s_.data_path.empty() ? kFashionMnistDir : s_.data_path);
    std::tie(asked_, cells_) = asked_classes(s_.captions);
    // The floor: real composites of the target, judged the same way against their own captions.
    floor_ = judge(s_.reference);
  }
  Scores floor() override { return floor_; }
  Scores score(const at::Tensor& xs) override { return judge(xs); }
  void save(const at::Tensor& xs, const std::string& tag) override {
    io::write_image_grid((fs::path(s_.dir) / "samples" / (tag + ".png")).string(), xs.slice(0, 0, 64), 8);
  }
  void save_reference() override {
    io::write_image_grid((fs::path(s_.dir) / "reference.png").string(), s_.reference.slice(0, 0, 64), 8);
    std::string text;  // the captions of the grids, row by row
    for (size_t i = 0; i < std::min<size_t>(64, s_.captions.size()); ++i) text += s_.captions[i] + "\n";
    io::write_file_atomic((fs::path(s_.dir) / "captions.txt").string(), text);
  }
  void save_trajectory(const at::Tensor& traj) override {
    const int64_t S = traj.size(0), rows = std::min<int64_t>(8, traj.size(1)), cols = std::min<int64_t>(9, S);
    auto ti = torch::linspace(0, double(S - 1), cols).round().to(torch::kInt64);
    at::Tensor strip = traj.cpu().index_select(0, ti).slice(1, 0, rows).transpose(0, 1).flatten(0, 1);
    io::write_png((fs::path(s_.dir) / "trajectory.png").string(), io::image_grid(strip, cols));
  }
  std::string headline(const Scores& j) const override {
    return fmt::format("compositional accuracy {:.3f} (real composites {:.3f}), cells {:.3f}, FID-proxy of cells {:.3f} (real {:.3f})",
                       j.at("compositional_accuracy"), floor_.at("compositional_accuracy"), j.at("cell_accuracy"),
                       j.at("fid_proxy"), floor_.at("fid_proxy"));
  }
  void describe(ModelEval& out) const override {
    out.fidnet = {ref_->info.id, ref_->info.path, ref_->info.test_accuracy};
    out.judge = {ref_->judge_info.id, ref_->judge_info.path, ref_->judge_info.test_accuracy};
    out.reference = "Fashion-MNIST test set (" + std::to_string(ref_->test_size) + " images), cell by cell";
  }

 private:
  Scores judge(const at::Tensor& xs) const {
    const at::Tensor cells = composite_cells(xs.clamp(-1, 1));
    RF_CHECK(cells.size(0) == asked_.size(0), "the samples are not the captions' composites", "composite scorer", "");
    const at::Tensor hits = fidnet_predict(*ref_->judge, cells).eq(asked_);
    return {{"compositional_accuracy", all_cells_right(hits, cells_)},
            {"cell_accuracy", hits.to(torch::kFloat64).mean().item<double>()},
            {"fid_proxy", fid_proxy(*ref_->net, cells, *ref_->test_stats)}};
  }

  ScorerSetup s_;
  std::shared_ptr<const FidReference> ref_;
  at::Tensor asked_;
  int64_t cells_ = 1;
  Scores floor_;
};

}  // namespace

ScorerEntry composite_scorer_entry() {
  ScorerEntry e;
  e.second_draw = false;
  e.likelihood = false;  // images: one backward pass per pixel
  e.chunked = true;
  e.max_paths = 64;
  e.make = [](const ScorerSetup& s) { return std::make_unique<CompositeScorer>(s); };
  return e;
}

}  // namespace rflow::eval
