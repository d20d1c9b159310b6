// The pinned feature network of the image evaluation: a small CNN classifier trained on
// Fashion-MNIST deterministically (fixed seed, order and hyperparameters), cached on disk once.
// Its 128-d penultimate activations give the FID-proxy, its argmax the class accuracy of
// conditional samples, and its normalised conv activations the distillation feature loss
// (registered as feature distance "fidnet", our LPIPS stand-in).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include "rflow/data/image_dataset.h"
#include "rflow/eval/frechet.h"
#include "rflow/methods/distill.h"

namespace rflow::eval {

class FidNetImpl : public torch::nn::Module {
 public:
  FidNetImpl();
  // x: [N, 1, 28, 28] in [−1, 1] → logits [N, 10].
  at::Tensor forward(const at::Tensor& x);
  // Penultimate activations [N, 128] (the FID-proxy features).
  at::Tensor features(const at::Tensor& x);
  // The three conv activations and the features, for the LPIPS-style feature distance.
  std::vector<at::Tensor> layers(const at::Tensor& x);

  static constexpr int64_t kFeatureDim = 128;

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  torch::nn::Linear fc_{nullptr}, head_{nullptr};
};
TORCH_MODULE(FidNet);

struct FidNetTrainOptions {
  std::string data_dir = kFashionMnistDir;
  int64_t epochs = 3;
  int64_t batch_size = 128;
  double lr = 1e-3;
  uint64_t seed = 0;
  int64_t limit = 0;       // train on the first `limit` images only (tests); 0 = all 60k
  int64_t test_limit = 0;  // measure the test accuracy on the first `test_limit` test images (tests); 0 = all 10k
};

struct FidNetInfo {
  double test_accuracy = 0;  // on Fashion-MNIST's 10k test images
  std::string id;            // fingerprint of the weights: FIDs are comparable only for equal ids
  std::string path;
  double train_seconds = 0;
  int64_t epochs = 0;
};

// Trains from scratch (logs progress per epoch) and reports the test accuracy.
FidNet train_fidnet(const FidNetTrainOptions& opt, FidNetInfo* info = nullptr);
void save_fidnet(const std::string& path, FidNet& net, const FidNetInfo& info);
FidNet load_fidnet(const std::string& path, FidNetInfo* info = nullptr);

// $RFLOW_FIDNET, else $XDG_CACHE_HOME/rflow/…, else ~/.cache/rflow/fidnet_fashion_mnist_v1.safetensors.
std::string default_fidnet_path();
// Loads the cached network at `path` ("" = default), training and caching it first if missing.
FidNet cached_fidnet(const std::string& path, FidNetInfo* info = nullptr);

// Batched, no-grad evaluation of large image sets (float in [−1, 1], any device).
at::Tensor fidnet_features(FidNet& net, const at::Tensor& images, int64_t batch = 500);
at::Tensor fidnet_predict(FidNet& net, const at::Tensor& images, int64_t batch = 500);

// The protocol's numbers for generated images (clipped to [−1, 1] first, as stored images would be):
// FID-proxy against reference feature statistics, and the share classified as `labels`.
double fid_proxy(FidNet& net, const at::Tensor& images, const FeatureStats& reference);
double class_accuracy(FidNet& net, const at::Tensor& images, const at::Tensor& labels);

// A fingerprint of the parameters (FNV-1a over their bytes).
std::string weights_id(torch::nn::Module& m);

// Adds feature distance "fidnet" (once; later calls do nothing). The pipeline calls it at start-up
// (register_extensions), since the methods layer that owns the table sits below eval.
void add_fidnet_distance(Registry<FeatureDistanceFactory>& r);

}  // namespace rflow::eval
