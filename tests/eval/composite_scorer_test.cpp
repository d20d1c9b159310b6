// The composite scorer: cells come out in the caption's reading order; real composites judged
// against their own captions score near the judge's accuracy to the power of their cells, and the
// same images against other captions score near chance, so the number measures what was asked.
#include <gtest/gtest.h>

#include <filesystem>

#include <torch/torch.h>

#include "rflow/core/rng.h"
#include "rflow/data/fashion_composites.h"
#include "rflow/data/image_dataset.h"
#include "rflow/eval/composite_scorer.h"
#include "tests/test_util.h"

using namespace rflow;

TEST(CompositeScorer, CellsComeOutInReadingOrder) {
  // Image i's cell k holds the value 10·i + k.
  const int64_t N = 3;
  at::Tensor x = torch::empty({N, 1, 56, 84});
  for (int64_t i = 0; i < N; ++i)
    for (int64_t k = 0; k < 6; ++k)
      x[i].slice(1, 28 * (k / 3), 28 * (k / 3 + 1)).slice(2, 28 * (k % 3), 28 * (k % 3 + 1)).fill_(double(10 * i + k));
  const at::Tensor cells = eval::composite_cells(x);
  ASSERT_EQ(cells.sizes(), (std::vector<int64_t>{18, 1, 28, 28}));
  for (int64_t j = 0; j < 18; ++j) {
    EXPECT_EQ(cells[j].min().item<double>(), double(10 * (j / 6) + j % 6)) << j;
    EXPECT_EQ(cells[j].max().item<double>(), double(10 * (j / 6) + j % 6)) << j;
  }
  const auto [asked, per] = eval::asked_classes({"a bag left of a coat", "an ankle boot left of a t-shirt"});
  EXPECT_EQ(per, 2);
  EXPECT_TRUE(torch::equal(asked, torch::tensor({8, 4, 9, 0}, torch::kInt64)));
  EXPECT_THROW(eval::asked_classes({"a bag left of a coat", "a bag above a coat"}), Error);
  // One wrong cell makes the whole image wrong.
  EXPECT_DOUBLE_EQ(eval::all_cells_right(torch::tensor({true, true, true, false, false, false}), 2), 1.0 / 3.0);
}

TEST(CompositeScorer, RealCompositesScoreAsTheJudgeReadsThemAndWrongCaptionsDoNot) {
  RFLOW_TEST_REQUIRES(std::filesystem::exists(std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz"),
                      "Debian's dataset-fashion-mnist");
  test::TempDir dir;
  std::filesystem::create_directories(dir.path() / "samples");
  DistributionConfig c;
  c.name = "fashion_composites";
  c.get<FashionCompositesOptions>("fashion_composites").split = "test";
  auto target = make_distribution(c, {}, "data.target");
  seed_all(3);
  const Draw d = target->sample(400);
  eval::ScorerSetup s;
  s.dir = dir.path().string();
  s.reference = d.x;
  s.cond = d.cond;
  s.captions = target->decode_prompts(d.cond);
  auto scorer = eval::scorers().get("composites").make(s);
  const eval::Scores real = scorer->score(d.x);
  // The judge reads test garments right ~9 times in 10: both of two about 0.8 of the time.
  EXPECT_GT(real.at("cell_accuracy"), 0.85);
  EXPECT_GT(real.at("compositional_accuracy"), 0.7);
  EXPECT_NEAR(real.at("compositional_accuracy"), std::pow(real.at("cell_accuracy"), 2), 0.06);
  // The floor is these same real composites; blurred garments are much further from the test set.
  EXPECT_NEAR(scorer->floor().at("fid_proxy"), real.at("fid_proxy"), 1e-9);
  const at::Tensor blurred = torch::avg_pool2d(d.x, 3, 1, 1);
  EXPECT_GT(scorer->score(blurred).at("fid_proxy"), 2.0 * real.at("fid_proxy"));
  // The same pictures, each under another image's caption (shifted by one): near chance.
  const eval::Scores wrong = scorer->score(torch::roll(d.x, 1, 0));
  EXPECT_LT(wrong.at("cell_accuracy"), 0.3);
  EXPECT_LT(wrong.at("compositional_accuracy"), 0.1);
  // The same cells in another order: equal up to the order of float sums (1.9e-6 apart on one CPU).
  EXPECT_NEAR(wrong.at("fid_proxy"), real.at("fid_proxy"), 1e-5 * real.at("fid_proxy"));
  // The two garments swapped: the right garments in the wrong places do not count.
  const at::Tensor swapped = torch::cat({d.x.narrow(3, 28, 28), d.x.narrow(3, 0, 28)}, 3);
  EXPECT_LT(scorer->score(swapped).at("compositional_accuracy"), 0.2);
  scorer->save_reference();
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "captions.txt"));
}
