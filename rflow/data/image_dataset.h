// Image data sets as flow endpoints: Fashion-MNIST (Debian's dataset-fashion-mnist), any IDX pair,
// a folder of images (one sub-folder per class, or none), or an image array in a .npy file. Images
// are held as uint8 [N, C, H, W] (47 MB for Fashion-MNIST's training set) and converted per batch
// to float in [−1, 1], optionally with random horizontal flips.
#pragma once

#include <memory>
#include <string>

#include <ATen/core/Tensor.h>

#include "rflow/data/distribution.h"

namespace rflow {

class ImageDataset : public Distribution {
 public:
  // images: uint8 [N, C, H, W] (or float already in [−1, 1]); labels: int64 [N] or undefined.
  ImageDataset(at::Tensor images, at::Tensor labels, int64_t num_classes, bool flip, std::string desc);
  int64_t num_classes() const override { return num_classes_; }
  std::vector<int64_t> sample_shape() const override;
  std::string describe() const override { return desc_; }
  std::string kind() const override { return "images"; }
  int64_t size() const { return images_.size(0); }
  // All images in order, as float in [−1, 1] (for evaluation against the whole set).
  at::Tensor all() const;
  const at::Tensor& labels() const { return labels_; }
  // The images as stored (uint8 [N, C, H, W] when read from files).
  const at::Tensor& stored() const { return images_; }

 private:
  Draw draw(int64_t n, const at::Generator& rng) override;
  at::Tensor images_, labels_;
  int64_t num_classes_;
  bool flip_;
  std::string desc_;
};

// Where Debian's dataset-fashion-mnist puts the IDX files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// dir holds {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; split: train | test.
std::unique_ptr<ImageDataset> load_fashion_mnist(const std::string& dir, const std::string& split, bool flip);
// images: IDX [N, H, W] or [N, C, H, W] uint8; labels: IDX [N] (optional, "" = none).
std::unique_ptr<ImageDataset> load_idx_images(const std::string& images, const std::string& labels, bool flip);
// dir/<class>/*.png … (classes = sorted sub-folder names) or dir/*.png; every image the same size.
std::unique_ptr<ImageDataset> load_image_folder(const std::string& dir, int channels, bool flip);

// Options of the image data sets (data.<end>.fashion_mnist.*, .idx.*, .image_folder.*).
struct FashionMnistOptions {
  std::string split = "train";
  template <class V>
  void visit(V& v) {
    v("split", split, "train (60k) | test (10k)");
  }
  void validate(const std::string& where) const;
};
struct IdxOptions {
  std::string labels_path;
  template <class V>
  void visit(V& v) {
    v("labels_path", labels_path, "IDX file of labels (optional)");
  }
  void validate(const std::string&) const {}
};
struct ImageFolderOptions {
  int64_t channels = 3;
  template <class V>
  void visit(V& v) {
    v("channels", channels, "1 (grey) or 3 (RGB)");
  }
  void validate(const std::string& where) const;
};

// Registry entries of the image data sets (npy arrays, points or images, live in distribution.cpp).
DistributionEntry fashion_mnist_entry();
DistributionEntry idx_entry();
DistributionEntry image_folder_entry();

}  // namespace rflow
