#include "rflow/eval/point_scorer.h"

#include <filesystem>

#include <fmt/format.h>
#include <torch/torch.h>

#include "rflow/eval/compare.h"
#include "rflow/eval/distances.h"
#include "rflow/eval/label_accuracy.h"
#include "rflow/io/npy.h"

namespace fs = std::filesystem;

namespace rflow::eval {

namespace {

Scores scores_of(const SampleMetrics& m) {
  return {{"w2", m.w2}, {"sliced_w2", m.sliced_w2}, {"energy", m.energy}, {"mmd", m.mmd}};
}

class PointScorer : public Scorer {
 public:
  explicit PointScorer(ScorerSetup s) : s_(std::move(s)) {
    // The floor: two independent finite target samples are this far apart under each metric.
    floor_ = scores_of(compare_samples(s_.reference2, s_.reference, s_.sliced_projections, s_.seed));
    if (s_.reference_labels.defined())
      floor_["label_accuracy"] =
          nearest_label_accuracy(s_.reference2, s_.reference2_labels, s_.reference, s_.reference_labels);
  }
  Scores floor() override { return floor_; }
  Scores score(const at::Tensor& xs) override {
    Scores out = scores_of(compare_samples(xs, s_.reference, s_.sliced_projections, s_.seed));
    // Conditional samples were asked for the reference draw's labels, row by row.
    if (s_.reference_labels.defined())
      out["label_accuracy"] = nearest_label_accuracy(xs, s_.reference_labels, s_.reference, s_.reference_labels);
    return out;
  }
  void save(const at::Tensor& xs, const std::string& tag) override {
    io::write_npy((fs::path(s_.dir) / "samples" / (tag + ".npy")).string(), xs);
  }
  void save_reference() override { io::write_npy((fs::path(s_.dir) / "reference.npy").string(), s_.reference); }
  void save_trajectory(const at::Tensor& traj) override {
    const int64_t keep = std::min<int64_t>(s_.trajectories, traj.size(1));
    if (keep <= 0) return;
    // Every ⌈S/50⌉-th time point is plenty for a picture.
    const int64_t S = traj.size(0);
    int64_t stride = std::max<int64_t>(1, (S - 1) / 50);
    auto idx = torch::arange(0, S, stride, torch::kInt64);
    if (idx[-1].item<int64_t>() != S - 1) idx = torch::cat({idx, torch::tensor({S - 1}, torch::kInt64)});
    io::write_npy((fs::path(s_.dir) / "trajectory.npy").string(),
                  traj.index_select(0, idx.to(traj.device())).slice(1, 0, keep).cpu().contiguous());
  }
  std::string headline(const Scores& j) const override {
    return fmt::format("W2 {:.4f} (real vs real {:.4f}), energy {:.5f}", j.at("w2"), floor_.at("w2"), j.at("energy"));
  }
  void describe(ModelEval& out) const override { out.reference = "fresh target draws"; }

 private:
  ScorerSetup s_;
  Scores floor_;
};

}  // namespace

ScorerEntry point_scorer_entry() {
  ScorerEntry e;
  e.max_n = kW2ExactMaxPoints;  // the exact W2 solver's limit
  e.make = [](const ScorerSetup& s) { return std::make_unique<PointScorer>(s); };
  return e;
}

}  // namespace rflow::eval
