// Distributions that can serve as the source (t = 0) or the target (t = 1) of a flow: analytic 2-D
// toys, a Gaussian with any mean and covariance, and user points from a .npy file. Any of them can
// be either end, so data-to-data transport is configuration, not code.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "rflow/core/registry.h"

namespace rflow {

struct DistributionConfig {
  std::string name;
  std::string path;          // npy: N×D float32/float64 file
  std::vector<double> mean;  // gaussian
  std::vector<double> std;   // gaussian, diagonal
  std::vector<double> cov;   // gaussian, full D×D row-major (overrides std)
  int64_t dim = 0;           // gaussian without mean: dimension (0 = match the other end)
  double scale = 0.0;        // toys: overall size (0 = the toy's default)
  double noise = -1.0;       // toys: noise / component std (< 0 = the toy's default)
  std::string split = "train";  // fashion_mnist
  std::string labels_path;      // idx
  bool flip = false;            // images
  int64_t channels = 3;         // image_folder

  template <class V>
  void visit(V& v) {
    v("name", name, "gaussian | 8gaussians | moons | checkerboard | spirals | rings | mixture3 | npy | fashion_mnist | idx | image_folder");
    v("path", path, "npy: file with N×D float32/float64 points");
    v("mean", mean, "gaussian: mean vector (empty = zeros)");
    v("std", std, "gaussian: per-dimension std (empty = ones)");
    v("cov", cov, "gaussian: full covariance, D×D row-major (overrides std)");
    v("dim", dim, "gaussian: dimension when mean/std/cov are empty (0 = match the other end)");
    v("scale", scale, "toys: size (0 = default)");
    v("noise", noise, "toys: noise or component std (< 0 = default)");
    v("split", split, "fashion_mnist: train (60k) | test (10k)");
    v("labels_path", labels_path, "idx: IDX file of labels (optional)");
    v("flip", flip, "images: random horizontal flips");
    v("channels", channels, "image_folder: 1 (grey) or 3 (RGB)");
  }
  void validate(const std::string& where) const;
};

class Distribution {
 public:
  virtual ~Distribution() = default;
  // n samples [n, ...] float32 on the CPU, drawn from the default generator.
  virtual at::Tensor sample(int64_t n) = 0;
  virtual std::vector<int64_t> sample_shape() const = 0;
  virtual std::string describe() const = 0;
  // Log density of points [n, ...] (float64, [n]); only analytic distributions have one.
  virtual at::Tensor log_prob(const at::Tensor& x) const;
  // Classes the points come in (toys: the mode / component index), 0 if unlabelled; labelled
  // draws are what class-conditional models train on.
  virtual int64_t num_classes() const { return 0; }
  // n samples and their labels [n] int64; throws for unlabelled distributions.
  virtual std::pair<at::Tensor, at::Tensor> sample_labeled(int64_t n);
};

using DistributionFactory =
    std::function<std::unique_ptr<Distribution>(const DistributionConfig&, const std::vector<int64_t>& shape_hint,
                                                const std::string& where)>;
const Registry<DistributionFactory>& distributions();

// shape_hint: sample shape of the other end, {} if unknown. A parameterless gaussian takes it, so
// N(0, I) noise comes in an image target's [C, H, W] shape.
std::unique_ptr<Distribution> make_distribution(const DistributionConfig& cfg, const std::vector<int64_t>& shape_hint,
                                                const std::string& where);

}  // namespace rflow
