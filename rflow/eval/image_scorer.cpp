#include "rflow/eval/image_scorer.h"

#include <filesystem>
#include <mutex>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/data/image_dataset.h"
#include "rflow/eval/class_diversity.h"
#include "rflow/eval/fidnet.h"
#include "rflow/eval/pinned_nets.h"
#include "rflow/io/image_file.h"

namespace fs = std::filesystem;

namespace rflow::eval {

namespace {

// The FID network and the test set's feature statistics: every model of a chain is scored against
// the same ones, so they are built once per (network, data folder).
struct FidReference {
  std::string key;
  FidNetInfo info;
  std::shared_ptr<FidNet> net;
  std::shared_ptr<FeatureStats> test_stats;
  int64_t test_size = 0;
  // The independent judge (pinned_nets.h): its network and the test set's per-class spread.
  FidNetInfo judge_info;
  std::shared_ptr<FidNet> judge;
  std::vector<double> judge_test_spread;
};

std::shared_ptr<const FidReference> fid_reference(const std::string& fidnet_path, const std::string& data_dir) {
  static std::mutex mu;
  static std::shared_ptr<const FidReference> cache;
  std::lock_guard<std::mutex> lock(mu);
  // Keyed by the network file's identity too: a file replaced in the same process is reloaded.
  const std::string file = fidnet_path.empty() ? default_fidnet_path() : fidnet_path;
  std::error_code ec;
  const auto stamp = fs::last_write_time(file, ec);
  const std::string key = file + "\n" + data_dir + "\n" +
                          (ec ? std::string("missing") : std::to_string(stamp.time_since_epoch().count()));
  if (!cache || cache->key != key) {
    auto r = std::make_shared<FidReference>();
    r->key = key;
    r->net = std::make_shared<FidNet>(cached_fidnet(fidnet_path, &r->info));
    auto test = load_fashion_mnist(data_dir, "test", false);
    r->test_stats = std::make_shared<FeatureStats>(feature_stats(fidnet_features(*r->net, test->all())));
    r->test_size = test->size();
    r->judge = std::make_shared<FidNet>(load_pinned_net("judge", &r->judge_info));
    r->judge_test_spread = class_spread(fidnet_features(*r->judge, test->all()), test->labels());
    cache = r;
  }
  return cache;
}

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
    if (s_.cond_labels.defined()) {
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
    if (s_.cond_labels.defined()) out["class_accuracy"] = class_accuracy(*ref_->net, xs, s_.cond_labels);
    for (const auto& [key, value] : judged(xs, s_.cond_labels)) out[key] = value;
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
    return fmt::format("FID-proxy {:.3f} (floor {:.3f}){}, diversity {:.2f}", j.at("fid_proxy"), floor_.at("fid_proxy"),
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
