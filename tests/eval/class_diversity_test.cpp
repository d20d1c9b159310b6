// Per-class diversity: a set against itself is 1, one sample repeated per class is 0, a half of real
// test images against the whole test set is about 1, and the judge sees blurred (averaged) images
// as less varied than real ones.
#include "rflow/eval/class_diversity.h"

#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/data/image_dataset.h"
#include "rflow/eval/pinned_nets.h"
#include "tests/test_util.h"

using namespace rflow;

TEST(ClassDiversity, ItselfIsOneARepeatedSampleIsZero) {
  torch::manual_seed(0);
  const auto f = torch::randn({300, 16});
  const auto y = torch::arange(300, torch::kInt64).remainder(3);
  const auto ref = eval::class_spread(f, y, 3);
  ASSERT_EQ(ref.size(), 3u);
  for (double s : ref) EXPECT_NEAR(s, std::sqrt(2.0), 0.1);  // random unit vectors in 16-d
  EXPECT_NEAR(eval::diversity_ratio(ref, ref), 1.0, 1e-12);
  const auto same = f.index_select(0, y);  // rows 0, 1, 2 repeated: one sample per class
  EXPECT_NEAR(eval::diversity_ratio(eval::class_spread(same, y, 3), ref), 0.0, 1e-6);
  // A class with one member has no spread and is left out, not counted as zero.
  const auto spread = eval::class_spread(f.slice(0, 0, 4), y.slice(0, 0, 4), 3);
  EXPECT_TRUE(std::isfinite(spread[0]));
  EXPECT_TRUE(std::isnan(spread[1]) && std::isnan(spread[2]));
  EXPECT_TRUE(std::isnan(eval::diversity_ratio({std::nan("")}, {1.0})));
}

TEST(ClassDiversity, TheJudgeSeesRealImagesAsVariedAsTheTestSetAndBlursAsLess) {
  RFLOW_TEST_REQUIRES(std::filesystem::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"),
                      "no Fashion-MNIST");
  eval::FidNet judge = eval::load_pinned_net("judge");
  auto test = load_fashion_mnist(kFashionMnistDir, "test", false);
  const auto x = test->all(), y = test->labels();
  const auto all = eval::class_spread(eval::fidnet_features(judge, x), y);
  const auto half = x.slice(0, 0, 5000), half_y = y.slice(0, 0, 5000);
  const double real = eval::diversity_ratio(eval::class_spread(eval::fidnet_features(judge, half), half_y), all);
  EXPECT_NEAR(real, 1.0, 0.03);
  // Each image averaged with its class's mean: sharp enough to classify, half as varied.
  auto blurred = half.clone();
  for (int64_t c = 0; c < 10; ++c) {
    const auto idx = (half_y == c).nonzero().squeeze(1);
    const auto m = half.index_select(0, idx).mean(0, true);
    blurred.index_copy_(0, idx, 0.5 * half.index_select(0, idx) + 0.5 * m);
  }
  const double less = eval::diversity_ratio(eval::class_spread(eval::fidnet_features(judge, blurred), half_y), all);
  std::cout << "diversity: real half " << real << ", averaged towards the class mean " << less << "\n";
  EXPECT_LT(less, 0.85 * real);
}
