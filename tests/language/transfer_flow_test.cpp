// Edit flows on latents that are two Gaussians of one shape: the flow a text run trains between the
// sentences of one attribute value and another moves the source onto the target with the exact W2
// (for equal covariances the optimal map is the translation by the mean difference), and its
// reflowed 2-RF does so in one Euler step. The sentence_latents data set keeps and labels rows by
// attribute as asked, and refuses what the latents do not hold.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/data/sentence_latents.h"
#include "rflow/io/atomic_file.h"
#include "rflow/io/npy.h"
#include "rflow/language/text_run.h"
#include "rflow/pipeline/pipeline.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/solve/solver.h"
#include "tests/test_util.h"

using namespace rflow;
namespace fs = std::filesystem;

namespace {

const at::Tensor kMuA = torch::tensor({-2.0f, 0.5f}), kMuB = torch::tensor({1.0f, 2.5f});
constexpr float kSigma = 0.5f;

// A text run's latents/ folder holding N(μ_a, σ²I) for side = a and N(μ_b, σ²I) for side = b.
void write_two_gaussians(const std::string& dir, int64_t n) {
  torch::manual_seed(5);
  const at::Tensor side = torch::arange(n) % 2;
  const at::Tensor mu = torch::where(side.unsqueeze(1) == 0, kMuA, kMuB);
  fs::create_directories(fs::path(dir) / "latents");
  io::write_npy(SentenceLatentFiles::latents(dir, "train"), mu + kSigma * torch::randn({n, 2}));
  io::write_npy(SentenceLatentFiles::labels(dir, "train"), torch::stack({side, side.remainder(3) * 0}, 1).to(torch::kInt64));
  io::write_file_atomic(SentenceLatentFiles::attributes(dir),
                        nlohmann::json{{"attributes", {"side", "other"}}, {"values", {{"a", "b"}, {"x", "y", "z"}}}}.dump());
}

std::unique_ptr<Distribution> latents_of(const std::string& dir, const std::vector<std::string>& keep,
                                         const std::vector<std::string>& label) {
  DistributionConfig c;
  c.name = "sentence_latents";
  c.path = dir;
  c.get<SentenceLatentsOptions>("sentence_latents").keep = keep;
  c.get<SentenceLatentsOptions>("sentence_latents").label = label;
  return make_distribution(c, {}, "data.target");
}

}  // namespace

TEST(SentenceLatents, RowsAreKeptAndLabelledByAttribute) {
  test::TempDir dir;
  write_two_gaussians(dir.path().string(), 1000);
  auto b = latents_of(dir.path().string(), {"side=b"}, {});
  const Draw d = b->sample(4000);
  EXPECT_NEAR(d.x.mean(0)[0].item<double>(), 1.0, 0.06);
  EXPECT_EQ(b->num_classes(), 0);
  auto not_b = latents_of(dir.path().string(), {"side!=b"}, {});
  EXPECT_NEAR(not_b->sample(4000).x.mean(0)[0].item<double>(), -2.0, 0.06);
  auto labelled = latents_of(dir.path().string(), {}, {"side", "other"});
  EXPECT_EQ(labelled->num_classes(), 6);  // 2 × 3 joint values
  const Draw l = labelled->sample(2000);
  // Class = side · 3 + other, and other is always x (0) here: classes 0 and 3 only.
  EXPECT_TRUE(((l.cond.labels == 0) | (l.cond.labels == 3)).all().item<bool>());
  EXPECT_NEAR((l.cond.labels == 3).to(torch::kFloat).mean().item<double>(), 0.5, 0.05);
  EXPECT_NEAR(l.x.index({l.cond.labels == 3}).select(1, 0).mean().item<double>(), 1.0, 0.08);  // side b's rows
  EXPECT_THROW(latents_of(dir.path().string(), {"colour=b"}, {}), Error);
  EXPECT_THROW(latents_of(dir.path().string(), {"side=c"}, {}), Error);
  EXPECT_THROW(latents_of(dir.file("missing"), {}, {}), Error);
}

TEST(TextTransfer, TheEditFlowMovesOneGaussianOntoTheOtherWithTheExactW2) {
  test::TempDir dir;
  const std::string run = dir.path().string();
  write_two_gaussians(run, 8000);
  TextRunConfig cfg;
  cfg.edit = "side";
  cfg.threads = 1;
  cfg.log_level = "warn";
  cfg.transfer.train.steps = 1500;
  cfg.transfer.reflow.pairs = 4000;
  cfg.transfer.reflow.train.steps = 1000;
  const auto configs = transfer_flow_configs(cfg, run);
  ASSERT_EQ(configs.size(), 2u);
  EXPECT_EQ(configs[1].name, "to_b");
  run_pipeline(configs[1]);
  const double w2_squared = (kMuB - kMuA).pow(2).sum().item<double>();  // equal covariances: a translation
  torch::manual_seed(11);
  const at::Tensor x = kMuA + kSigma * torch::randn({4000, 2});
  for (const auto& [model, steps] : std::vector<std::pair<std::string, int64_t>>{{"", 50}, {"2rf", 1}}) {
    LoadedModel m = load_model((fs::path(run) / "flows" / "to_b" / model).string(), true, torch::kCPU);
    SolveOptions o;
    o.steps = steps;
    torch::NoGradGuard ng;
    const at::Tensor y = solve(*m.model, x, o).x;
    EXPECT_LT((y.mean(0) - kMuB).norm().item<double>(), 0.12) << model;
    EXPECT_NEAR(y.std(0).mean().item<double>(), kSigma, 0.08) << model;
    EXPECT_NEAR((y - x).pow(2).sum(1).mean().item<double>(), w2_squared, 0.08 * w2_squared) << model << " at " << steps << " steps";
  }
}
