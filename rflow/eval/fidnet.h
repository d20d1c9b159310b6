// Small Fashion-MNIST CNN classifiers trained deterministically (fixed seed, order and
// hyperparameters): three conv layers, a feature layer, a 10-way head, in sizes given by a
// FeatureNetSpec. rflow ships three of them (rflow/eval/pinned_nets.h): the evaluator behind
// FID-proxy and class accuracy, a perceptual network for feature losses, and an independent judge.
// Their normalised activations give the LPIPS-style feature distances ("percept", and "fidnet").
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include "rflow/data/image_dataset.h"
#include "rflow/eval/frechet.h"
#include "rflow/methods/distill.h"
#include "rflow/methods/janusflow_method.h"

namespace rflow::eval {

// The architecture: conv widths, kernel size, pooling between convs, feature size. Default: the
// FID-proxy evaluator's.
struct FeatureNetSpec {
  std::vector<int64_t> channels{32, 64, 128};
  int64_t kernel = 3;
  std::string pool = "max";  // max | avg
  int64_t fc_grid = 7;       // the last conv map is average-pooled to fc_grid × fc_grid (7 = as is)
  int64_t feature_dim = 128;

  bool operator==(const FeatureNetSpec& o) const {
    return channels == o.channels && kernel == o.kernel && pool == o.pool && fc_grid == o.fc_grid &&
           feature_dim == o.feature_dim;
  }
  std::string to_json() const;
  static FeatureNetSpec from_json(const std::string& text, const std::string& where);
};

class FidNetImpl : public torch::nn::Module {
 public:
  explicit FidNetImpl(FeatureNetSpec spec = {});
  // x: [N, 1, 28, 28] in [−1, 1] → logits [N, 10].
  at::Tensor forward(const at::Tensor& x);
  // Penultimate activations [N, feature_dim] (the FID-proxy features).
  at::Tensor features(const at::Tensor& x);
  // Logits [N, 10] from features (forward without its dropout).
  at::Tensor classify(const at::Tensor& features);
  // The three conv activations and the features, for the LPIPS-style feature distance.
  std::vector<at::Tensor> layers(const at::Tensor& x);

  const FeatureNetSpec& spec() const { return spec_; }

 private:
  FeatureNetSpec spec_;
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
  FeatureNetSpec spec;
  int64_t limit = 0;       // train on the first `limit` images only (tests); 0 = all 60k
  int64_t test_limit = 0;  // measure the test accuracy on the first `test_limit` test images (tests); 0 = all 10k
};

struct FidNetInfo {
  double test_accuracy = 0;  // on Fashion-MNIST's 10k test images
  std::string id;            // fingerprint of the weights: FIDs are comparable only for equal ids
  std::string path;
  double train_seconds = 0;
  int64_t epochs = 0;
  std::string role;  // what a shipped network is for ("" for others)
};

// Trains from scratch (logs progress per epoch) and reports the test accuracy.
FidNet train_fidnet(const FidNetTrainOptions& opt, FidNetInfo* info = nullptr);
void save_fidnet(const std::string& path, FidNet& net, const FidNetInfo& info);
// Any network file save_fidnet wrote (its spec is in the file; files from before specs existed are
// the evaluator's architecture).
FidNet load_fidnet(const std::string& path, FidNetInfo* info = nullptr);

// The evaluator in use: the file named by $RFLOW_FIDNET if set, else the shipped, pinned one.
std::string default_fidnet_path();
// The evaluator at `path` ("" = default_fidnet_path()). The shipped one is checked against its
// fingerprint; a file named by the user that does not exist yet is trained with the evaluator's
// recipe and cached there first.
FidNet cached_fidnet(const std::string& path, FidNetInfo* info = nullptr);

// Batched, no-grad evaluation of large image sets (float in [−1, 1], any device).
at::Tensor fidnet_features(FidNet& net, const at::Tensor& images, int64_t batch = 500);
at::Tensor fidnet_predict(FidNet& net, const at::Tensor& images, int64_t batch = 500);
// Both in one pass: features [N, feature_dim] and predicted classes [N].
std::pair<at::Tensor, at::Tensor> fidnet_features_and_predictions(FidNet& net, const at::Tensor& images,
                                                                  int64_t batch = 500);

// The protocol's numbers for generated images (clipped to [−1, 1] first, as stored images would be):
// FID-proxy against reference feature statistics, and the share classified as `labels`.
double fid_proxy(FidNet& net, const at::Tensor& images, const FeatureStats& reference);
double class_accuracy(FidNet& net, const at::Tensor& images, const at::Tensor& labels);

// A fingerprint of the parameters (FNV-1a over their bytes).
std::string weights_id(torch::nn::Module& m);

// Adds the feature distances "percept" (the shipped perceptual network: the one to distil with)
// and "fidnet" (the evaluator itself: a run that is also evaluated by it needs an explicit opt-in)
// once; later calls do nothing. The pipeline calls it at start-up (register_extensions), since
// the methods layer that owns the table sits below eval.
void add_fidnet_distance(Registry<FeatureDistanceFactory>& r);
// Registers "percept" as a REPA target: the shipped perceptual network's 7×7 map of each 28×28 cell
// (its third convolution), stitched over a composite's cells.
void add_fidnet_repa_target(Registry<FeatureGridFactory>& r);

}  // namespace rflow::eval
