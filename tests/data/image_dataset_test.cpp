#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/rng.h"
#include "rflow/data/batch_source.h"
#include "rflow/data/image_dataset.h"
#include "rflow/io/image_file.h"
#include "rflow/io/npy.h"
#include "tests/test_util.h"

using namespace rflow;
namespace fs = std::filesystem;

TEST(ImageDataset, FashionMnistIsAGaussianFlowsTarget) {
  RFLOW_TEST_REQUIRES(fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"), "no Fashion-MNIST");
  DataConfig dc;
  dc.target.name = "fashion_mnist";
  dc.target.get<FashionMnistOptions>("fashion_mnist").split = "test";
  dc.labels = true;
  auto c = make_coupling(dc);
  EXPECT_EQ(c->sample_shape(), (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(c->target().num_classes(), 10);
  seed_all(0);
  Batch b = c->next(16, torch::kCPU);
  EXPECT_EQ(b.x0.sizes(), (std::vector<int64_t>{16, 1, 28, 28}));  // the flat Gaussian in the image's shape
  EXPECT_EQ(b.x1.sizes(), (std::vector<int64_t>{16, 1, 28, 28}));
  EXPECT_GE(b.x1.min().item<float>(), -1.0f);
  EXPECT_LE(b.x1.max().item<float>(), 1.0f);
  EXPECT_EQ(b.cond.labels.sizes(), (std::vector<int64_t>{16}));
  // log p of the source works on image-shaped noise (densities of the flat vectors).
  EXPECT_EQ(c->source().log_prob(b.x0).sizes(), (std::vector<int64_t>{16}));
  // The first test image is an ankle boot (label 9) whose pixels sum to 33456.
  auto* ds = dynamic_cast<ImageDataset*>(&c->target());
  ASSERT_NE(ds, nullptr);
  EXPECT_EQ(ds->labels()[0].item<int64_t>(), 9);
  EXPECT_NEAR(((ds->all()[0] + 1) * 127.5).sum().item<double>(), 33456, 1e-2);
}

TEST(ImageDataset, FolderOfClassesAndNpyArrays) {
  test::TempDir dir;
  for (const char* cls : {"boots", "shirts"})
    for (int i = 0; i < 3; ++i) {
      fs::create_directories(dir.path() / "set" / cls);
      io::write_png((dir.path() / "set" / cls / (std::to_string(i) + ".png")).string(),
                    torch::full({6, 5}, cls[0] == 'b' ? 10 * i : 200, torch::kUInt8));
    }
  auto ds = load_image_folder(dir.file("set"), 1, false);
  EXPECT_EQ(ds->size(), 6);
  EXPECT_EQ(ds->num_classes(), 2);
  EXPECT_EQ(ds->sample_shape(), (std::vector<int64_t>{1, 6, 5}));
  EXPECT_TRUE(torch::equal(ds->labels(), torch::tensor({0, 0, 0, 1, 1, 1}, torch::kInt64)));  // sorted class names
  EXPECT_NEAR(ds->all()[4].mean().item<double>(), 200 / 127.5 - 1, 1e-6);
  // A misfit image is named.
  io::write_png((dir.path() / "set" / "shirts" / "big.png").string(), torch::zeros({8, 8}, torch::kUInt8));
  try {
    load_image_folder(dir.file("set"), 1, false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("big.png"), std::string::npos) << e.what();
  }
  // uint8 N×H×W arrays are images (one channel); flips mirror the width.
  auto arr = torch::zeros({4, 3, 5}, torch::kUInt8);
  arr.select(2, 0).fill_(255);  // a bright left column
  io::write_npy(dir.file("ims.npy"), arr);
  DistributionConfig c{"npy"};
  c.path = dir.file("ims.npy");
  c.flip = true;
  auto d = make_distribution(c, {}, "t");
  EXPECT_EQ(d->sample_shape(), (std::vector<int64_t>{1, 3, 5}));
  seed_all(1);
  auto x = d->sample(200).x;
  auto left = x.select(3, 0).mean(2).squeeze(1), right = x.select(3, 4).mean(2).squeeze(1);
  const double flipped = (right > 0).to(torch::kFloat64).mean().item<double>();
  EXPECT_GT(flipped, 0.3);
  EXPECT_LT(flipped, 0.7);
  EXPECT_TRUE(torch::all((left > 0) != (right > 0)).item<bool>());
}
