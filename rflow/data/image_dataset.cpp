#include "rflow/data/image_dataset.h"

#include <algorithm>
#include <filesystem>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/io/idx.h"
#include "rflow/io/image_file.h"

namespace fs = std::filesystem;

namespace rflow {

ImageDataset::ImageDataset(at::Tensor images, at::Tensor labels, int64_t num_classes, bool flip, std::string desc)
    : images_(std::move(images)), labels_(std::move(labels)), num_classes_(num_classes), flip_(flip), desc_(std::move(desc)) {
  RF_CHECK(images_.dim() == 4 && images_.size(0) > 0, "image data must be [N, C, H, W] with N > 0", desc_, "");
  RF_CHECK(!labels_.defined() || (labels_.dim() == 1 && labels_.size(0) == images_.size(0)),
           "labels must be one per image", desc_, "");
  if (labels_.defined()) {
    labels_ = labels_.to(torch::kInt64).contiguous();
    RF_CHECK(labels_.min().item<int64_t>() >= 0, "negative labels", desc_, "labels are class indices 0 … K−1");
    num_classes_ = std::max(num_classes_, labels_.max().item<int64_t>() + 1);
  }
}

std::vector<int64_t> ImageDataset::sample_shape() const {
  return {images_.size(1), images_.size(2), images_.size(3)};
}

namespace {
at::Tensor to_unit_range(const at::Tensor& x) {
  return x.scalar_type() == torch::kUInt8 ? x.to(torch::kFloat32).div_(127.5).sub_(1.0) : x.to(torch::kFloat32);
}
}  // namespace

Draw ImageDataset::draw(int64_t n, const at::Generator& rng) {
  auto idx = torch::randint(0, images_.size(0), {n}, rng, torch::kInt64);
  at::Tensor x = to_unit_range(images_.index_select(0, idx));
  if (flip_) {
    auto f = torch::rand({n}, rng) < 0.5;
    x = torch::where(f.view({n, 1, 1, 1}), x.flip({3}), x);
  }
  Draw d{x.contiguous(), {}};
  if (labels_.defined()) d.cond.labels = labels_.index_select(0, idx);
  return d;
}

at::Tensor ImageDataset::all() const { return to_unit_range(images_).contiguous(); }

namespace {

std::string find_idx(const std::string& dir, const std::string& stem) {
  for (const char* ext : {".gz", ""}) {
    fs::path p = fs::path(dir) / (stem + ext);
    if (fs::exists(p)) return p.string();
  }
  throw Error("missing " + stem + "[.gz]", dir,
              "install Debian's dataset-fashion-mnist (files in /usr/share/datasets/fashion-mnist/) or set path");
}

at::Tensor as_nchw(at::Tensor images, const std::string& where) {
  if (images.dim() == 3) images = images.unsqueeze(1);
  RF_CHECK(images.dim() == 4, "image IDX must be [N, H, W] or [N, C, H, W]", where, "");
  return images.contiguous();
}

}  // namespace

std::unique_ptr<ImageDataset> load_fashion_mnist(const std::string& dir, const std::string& split, bool flip) {
  RF_CHECK(split == "train" || split == "test", "unknown split '" + split + "'", "split", "train (60k) | test (10k)");
  const std::string pre = split == "train" ? "train" : "t10k";
  at::Tensor images = io::read_idx(find_idx(dir, pre + "-images-idx3-ubyte"));
  at::Tensor labels = io::read_idx(find_idx(dir, pre + "-labels-idx1-ubyte"));
  RF_CHECK(images.scalar_type() == torch::kUInt8 && images.dim() == 3 && images.size(1) == 28 && images.size(2) == 28,
           "not Fashion-MNIST images (expected uint8 N × 28 × 28)", dir, "");
  RF_CHECK(labels.dim() == 1 && labels.size(0) == images.size(0), "labels do not match the images in count", dir, "");
  RF_CHECK(labels.max().item<int64_t>() < 10, "Fashion-MNIST labels must be 0–9", dir, "");
  return std::make_unique<ImageDataset>(as_nchw(images, dir), labels, 10, flip,
                                        "fashion_mnist(" + split + ", " + std::to_string(images.size(0)) + " images)");
}

std::unique_ptr<ImageDataset> load_idx_images(const std::string& images_path, const std::string& labels_path, bool flip) {
  at::Tensor images = as_nchw(io::read_idx(images_path), images_path);
  RF_CHECK(images.scalar_type() == torch::kUInt8, "image IDX must hold unsigned bytes", images_path, "");
  at::Tensor labels;
  if (!labels_path.empty()) {
    labels = io::read_idx(labels_path);
    RF_CHECK(labels.dim() == 1 && labels.size(0) == images.size(0), "labels do not match the images in count", labels_path, "");
  }
  return std::make_unique<ImageDataset>(images, labels, 0, flip,
                                        "idx(" + images_path + ", " + std::to_string(images.size(0)) + " images)");
}

std::unique_ptr<ImageDataset> load_image_folder(const std::string& dir, int channels, bool flip) {
  RF_CHECK(fs::is_directory(dir), "no such folder", dir, "point path at a folder of images (or of class sub-folders)");
  RF_CHECK(channels == 1 || channels == 3, "channels must be 1 or 3", "channels", "");
  auto is_image = [](const fs::path& p) {
    std::string e = p.extension().string();
    std::transform(e.begin(), e.end(), e.begin(), ::tolower);
    return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".bmp";
  };
  std::vector<std::string> classes;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) classes.push_back(e.path().filename().string());
  std::sort(classes.begin(), classes.end());
  std::vector<std::pair<std::string, int64_t>> files;
  auto collect = [&](const fs::path& d, int64_t label) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(d))
      if (e.is_regular_file() && is_image(e.path())) names.push_back(e.path().string());
    std::sort(names.begin(), names.end());
    for (auto& n : names) files.emplace_back(n, label);
  };
  if (classes.empty()) collect(dir, -1);
  for (size_t k = 0; k < classes.size(); ++k) collect(fs::path(dir) / classes[k], static_cast<int64_t>(k));
  RF_CHECK(!files.empty(), "no images found", dir, "PNG, JPEG or BMP files, directly or in one sub-folder per class");
  std::vector<at::Tensor> ims;
  for (const auto& [f, label] : files) {
    at::Tensor im = io::read_image(f, channels).permute({2, 0, 1});
    RF_CHECK(ims.empty() || im.sizes() == ims.front().sizes(),
             "image size " + std::to_string(im.size(2)) + "×" + std::to_string(im.size(1)) + " differs from the first image's",
             f, "resize the images to one size");
    ims.push_back(im);
  }
  at::Tensor labels;
  if (!classes.empty()) {
    std::vector<int64_t> l;
    for (const auto& [f, label] : files) l.push_back(label);
    labels = torch::tensor(l, torch::kInt64);
  }
  return std::make_unique<ImageDataset>(torch::stack(ims), labels, static_cast<int64_t>(classes.size()), flip,
                                        "image_folder(" + dir + ", " + std::to_string(files.size()) + " images)");
}

void FashionMnistOptions::validate(const std::string& where) const {
  RF_CHECK(split == "train" || split == "test", "unknown split '" + split + "'", where + ".split", "train | test");
}

void ImageFolderOptions::validate(const std::string& where) const {
  RF_CHECK(channels == 1 || channels == 3, "channels must be 1 or 3", where + ".channels", "");
}

DistributionEntry fashion_mnist_entry() {
  DistributionEntry e{"fashion_mnist", [] { return AnyOptions::of<FashionMnistOptions>(); },
                      [](const DistributionConfig& c, const std::vector<int64_t>&, const std::string&) -> std::unique_ptr<Distribution> {
                        return load_fashion_mnist(c.path.empty() ? kFashionMnistDir : c.path,
                                                  c.get<FashionMnistOptions>("fashion_mnist").split, c.flip);
                      }};
  e.fid_reference = true;
  return e;
}

DistributionEntry idx_entry() {
  return {"idx", [] { return AnyOptions::of<IdxOptions>(); },
          [](const DistributionConfig& c, const std::vector<int64_t>&, const std::string& where) -> std::unique_ptr<Distribution> {
            RF_CHECK(!c.path.empty(), "idx distribution needs a path", where + ".path", "the images' IDX file");
            return load_idx_images(c.path, c.get<IdxOptions>("idx").labels_path, c.flip);
          }};
}

DistributionEntry image_folder_entry() {
  return {"image_folder", [] { return AnyOptions::of<ImageFolderOptions>(); },
          [](const DistributionConfig& c, const std::vector<int64_t>&, const std::string& where) -> std::unique_ptr<Distribution> {
            RF_CHECK(!c.path.empty(), "image_folder needs a path", where + ".path", "");
            return load_image_folder(c.path, static_cast<int>(c.get<ImageFolderOptions>("image_folder").channels), c.flip);
          }};
}

}  // namespace rflow
