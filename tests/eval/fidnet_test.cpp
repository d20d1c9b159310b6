#include "rflow/eval/fidnet.h"

#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/io/idx.h"
#include "rflow/io/safetensors.h"
#include "rflow/methods/distill.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {
bool have_fashion_mnist() { return fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"); }
}  // namespace

TEST(FidNet, ShapesAndBadInput) {
  rflow::eval::FidNet net;
  auto x = torch::rand({3, 1, 28, 28}) * 2 - 1;
  EXPECT_EQ(net->forward(x).sizes(), (std::vector<int64_t>{3, 10}));
  EXPECT_EQ(rflow::eval::fidnet_features(net, x, 2).sizes(), (std::vector<int64_t>{3, 128}));
  EXPECT_THROW(net->features(torch::rand({3, 3, 28, 28})), rflow::Error);
}

// The recipe is pinned: two trainings with the same options give the same weights, and even a
// small budget classifies far above chance (the full recipe's accuracy is in docs/results.md).
TEST(FidNet, TrainingIsDeterministicAndLearnsAndRoundTrips) {
  RFLOW_TEST_REQUIRES(have_fashion_mnist(), "no Fashion-MNIST");
  rflow::eval::FidNetTrainOptions opt;
  opt.epochs = 1;
  opt.limit = 1500;
  opt.test_limit = 2000;  // the accuracy to ±1%: enough to tell learning from chance
  rflow::eval::FidNetInfo a, b;
  auto n1 = rflow::eval::train_fidnet(opt, &a);
  auto n2 = rflow::eval::train_fidnet(opt, &b);
  EXPECT_EQ(a.id, b.id);
  EXPECT_DOUBLE_EQ(a.test_accuracy, b.test_accuracy);
  EXPECT_GT(a.test_accuracy, 0.45);  // chance is 0.10; 12 steps reach ~0.54
  rflow::test::TempDir dir;
  rflow::eval::save_fidnet(dir.file("f.safetensors"), n1, a);
  rflow::eval::FidNetInfo c;
  auto n3 = rflow::eval::load_fidnet(dir.file("f.safetensors"), &c);
  EXPECT_EQ(c.id, a.id);
  EXPECT_NEAR(c.test_accuracy, a.test_accuracy, 1e-6);

  // FID-proxy grows with the damage done to real images: 1000 training images against 3000 test
  // images, then with more and more noise added.
  const std::string data = "/usr/share/datasets/fashion-mnist/";
  auto to_float = [](const at::Tensor& u8) { return (u8.to(torch::kFloat32) / 127.5 - 1).unsqueeze(1); };
  auto test_images = to_float(rflow::io::read_idx(data + "t10k-images-idx3-ubyte.gz").narrow(0, 0, 3000));
  const auto stats = rflow::eval::feature_stats(rflow::eval::fidnet_features(n1, test_images));
  auto real = to_float(rflow::io::read_idx(data + "train-images-idx3-ubyte.gz").narrow(0, 40000, 1000));
  torch::manual_seed(2);
  auto noise = torch::randn_like(real);
  double prev = -1;
  for (double sigma : {0.0, 0.1, 0.3, 0.6, 1.0}) {
    const double fid = rflow::eval::fid_proxy(n1, (real + sigma * noise).clamp(-1, 1), stats);
    EXPECT_GT(fid, prev) << "noise " << sigma;
    prev = fid;
  }
  // Class accuracy is the share of predictions equal to the labels: the network's own predictions
  // score 1, the same shifted by one class 0.
  auto some = test_images.narrow(0, 0, 1000);
  auto pred = rflow::eval::fidnet_predict(n1, some);
  EXPECT_DOUBLE_EQ(rflow::eval::class_accuracy(n1, some, pred), 1.0);
  EXPECT_DOUBLE_EQ(rflow::eval::class_accuracy(n1, some, (pred + 1) % 10), 0.0);
}

TEST(FidNet, FeatureDistanceIsZeroOnEqualImagesAndHasGradients) {
  rflow::test::TempDir dir;
  // A stand-in network file so the registered distance does not train the real one here.
  rflow::eval::FidNet net;
  rflow::eval::save_fidnet(dir.file("f.safetensors"), net, {});
  setenv("RFLOW_FIDNET", dir.file("f.safetensors").c_str(), 1);
  // The methods layer owns the table; eval fills it (the pipeline does this at start-up).
  rflow::eval::add_fidnet_distance(rflow::feature_distances());
  auto dist = rflow::feature_distances().get("fidnet")({1, 28, 28});
  unsetenv("RFLOW_FIDNET");
  auto y = torch::rand({4, 1, 28, 28}) * 2 - 1;
  auto x = (y + 0.3 * torch::randn_like(y)).requires_grad_(true);
  auto d0 = dist(y, y);
  EXPECT_LT(d0.abs().max().item<double>(), 1e-6);
  auto d = dist(x, y);
  EXPECT_EQ(d.sizes(), (std::vector<int64_t>{4}));
  EXPECT_GT(d.min().item<double>(), 0);
  d.sum().backward();
  EXPECT_GT(x.grad().abs().sum().item<double>(), 0);
  EXPECT_THROW(rflow::feature_distances().get("fidnet")({3, 32, 32}), rflow::Error);
  EXPECT_THROW(rflow::feature_distances().get("percept")({1, 28, 50}), rflow::Error);
}

TEST(FidNet, FeatureDistancesReadCompositesCellByCell) {
  rflow::eval::add_fidnet_distance(rflow::feature_distances());
  auto single = rflow::feature_distances().get("percept")({1, 28, 28});
  auto grid = rflow::feature_distances().get("percept")({1, 56, 56});
  torch::manual_seed(2);
  const auto a = torch::rand({3, 1, 56, 56}) * 2 - 1, b = torch::rand({3, 1, 56, 56}) * 2 - 1;
  torch::NoGradGuard ng;
  // The mean of the four cells' distances, each cell compared with the cell in the same place.
  at::Tensor want = torch::zeros({3});
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 2; ++c) {
      auto cell = [&](const at::Tensor& x) { return x.narrow(2, 28 * r, 28).narrow(3, 28 * c, 28); };
      want += single(cell(a), cell(b)) / 4;
    }
  EXPECT_LT((grid(a, b) - want).abs().max().item<double>(), 1e-5);
  EXPECT_GT(want.min().item<double>(), 0);
  // Moving a cell elsewhere is a difference even though the image holds the same garments.
  const auto swapped = torch::cat({a.narrow(3, 28, 28), a.narrow(3, 0, 28)}, 3);
  EXPECT_GT(grid(swapped, a).min().item<double>(), 0);
}

TEST(FidNet, LoadRejectsOtherFiles) {
  rflow::test::TempDir dir;
  rflow::io::save_safetensors(dir.file("x.safetensors"), {{"a", torch::zeros({2})}});
  EXPECT_THROW(rflow::eval::load_fidnet(dir.file("x.safetensors")), rflow::Error);
}
