#include "rflow/eval/image_scorer.h"

#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/data/image_dataset.h"
#include "rflow/eval/class_diversity.h"
#include "rflow/eval/fid_reference.h"
#include "rflow/eval/fidnet.h"
#include "rflow/io/image_file.h"

namespace fs = std::filesystem;

namespace rflow::eval {

namespace {

class ImageScorer : public Scorer {
 public:
  explicit ImageScorer(ScorerSetup s) : s_(std::move(s)) {
    if (!s_.fid_reference) {
      spdlog::info("eval: no FID-proxy for {} (its feature network is Fashion-MNIST's); sample grids only", s_.data_name);
      return;
    }
    ref_ = fid_reference(s_.fidnet, s_.data_path.empty() ? kFashionMnistDir : s_.data_path);
    // The floor: as many real training images as samples, against the same test statistics.
    floor_["fid_proxy"] = fid_proxy(*ref_->net, s_.reference, *ref_->test_stats);
    if (s_.cond.labels.defined()) {
      floor_["class_accuracy"] = ref_->info.test_accuracy;
      floor_["judge_accuracy"] = ref_->judge_info.test_accuracy;
    }
    floor_["diversity"] = judged(s_.reference, s_.reference_labels).at("diversity");
  }
  Scores floor() override { return floor_; }
  Scores score(const at::Tensor& xs) override {
    Scores out;
    if (!ref_) return out;
    out["fid_proxy"] = fid_proxy(*ref_->net, xs, *ref_->test_stats);
    if (s_.cond.labels.defined()) out["class_accuracy"] = class_accuracy(*ref_->net, xs, s_.cond.labels);
    for (const auto& [key, value] : judged(xs, s_.cond.labels)) out[key] = value;
    return out;
  }
  void save(const at::Tensor& xs, const std::string& tag) override {
    io::write_image_grid((fs::path(s_.dir) / "samples" / (tag + ".png")).string(), xs, s_.grid_cols);
  }
  void save_reference() override {
    io::write_image_grid((fs::path(s_.dir) / "reference.png").string(), s_.reference, s_.grid_cols);
  }
  void save_trajectory(const at::Tensor& traj) override {
    // One row per class (first draws), noise → image left to right at 9 times.
    const int64_t S = traj.size(0);
    const int64_t rows = std::min<int64_t>(s_.grid_cols, traj.size(1)), cols = std::min<int64_t>(9, S);
    auto ti = torch::linspace(0, double(S - 1), cols).round().to(torch::kInt64);
    at::Tensor strip = traj.cpu().index_select(0, ti).slice(1, 0, rows).transpose(0, 1).flatten(0, 1);
    io::write_png((fs::path(s_.dir) / "trajectory.png").string(), io::image_grid(strip, cols));
  }
  std::string headline(const Scores& j) const override {
    if (!j.count("fid_proxy")) return "grid written";
    return fmt::format("FID-proxy {:.3f} (real images {:.3f}){}, diversity {:.2f}", j.at("fid_proxy"), floor_.at("fid_proxy"),
                       j.count("class_accuracy") ? fmt::format(", class accuracy {:.3f} (judge {:.3f})", j.at("class_accuracy"),
                                                               j.at("judge_accuracy"))
                                                 : "",
                       j.at("diversity"));
  }
  void describe(ModelEval& out) const override {
    if (!ref_) return;
    out.fidnet = {ref_->info.id, ref_->info.path, ref_->info.test_accuracy};
    out.judge = {ref_->judge_info.id, ref_->judge_info.path, ref_->judge_info.test_accuracy};
    out.reference = "Fashion-MNIST test set (" + std::to_string(ref_->test_size) + " images)";
  }

 private:
  // The judge's second opinion from one pass over the images: the share it classifies as `labels`
  // (when given), and the per-class spread of its features against the test set's, by `labels` (the
  // classes asked for, or that real images are) or else by its own reading of them.
  Scores judged(const at::Tensor& xs, const at::Tensor& labels) const {
    const auto [features, predicted] = fidnet_features_and_predictions(*ref_->judge, xs.clamp(-1, 1));
    Scores out;
    if (labels.defined()) out["judge_accuracy"] = predicted.eq(labels.cpu()).to(torch::kFloat64).mean().item<double>();
    out["diversity"] = diversity_ratio(class_spread(features, labels.defined() ? labels : predicted), ref_->judge_test_spread);
    return out;
  }

  ScorerSetup s_;
  std::shared_ptr<const FidReference> ref_;
  Scores floor_;
};

}  // namespace

ScorerEntry image_scorer_entry() {
  ScorerEntry e;
  e.balanced_labels = true;  // the test set is balanced, and grid columns are the classes
  e.second_draw = false;
  e.likelihood = false;      // the exact divergence costs one backward pass per pixel
  e.chunked = true;          // 10k images at once would hold gigabytes of activations
  e.max_paths = 256;         // a 100-step trajectory of 10k images would need 3 GB
  e.make = [](const ScorerSetup& s) { return std::make_unique<ImageScorer>(s); };
  return e;
}

}  // namespace rflow::eval
