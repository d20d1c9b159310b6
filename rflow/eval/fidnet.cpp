#include "rflow/eval/fidnet.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/progress.h"
#include "rflow/core/fingerprint.h"
#include "rflow/core/tensor_util.h"
#include "rflow/core/rng.h"
#include "rflow/data/image_dataset.h"
#include "rflow/io/safetensors.h"
#include "rflow/methods/distill.h"

namespace fs = std::filesystem;

namespace rflow::eval {

FidNetImpl::FidNetImpl() {
  namespace nn = torch::nn;
  conv1_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(1, 32, 3).padding(1)));
  conv2_ = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(32, 64, 3).padding(1)));
  conv3_ = register_module("conv3", nn::Conv2d(nn::Conv2dOptions(64, 128, 3).padding(1)));
  fc_ = register_module("fc", nn::Linear(128 * 7 * 7, kFeatureDim));
  head_ = register_module("head", nn::Linear(kFeatureDim, 10));
}

std::vector<at::Tensor> FidNetImpl::layers(const at::Tensor& x) {
  RF_CHECK(x.dim() == 4 && x.size(1) == 1 && x.size(2) == 28 && x.size(3) == 28,
           "the FID-proxy network takes [N, 1, 28, 28] images, got " + shape_str(x), "fidnet",
           "it is the Fashion-MNIST feature network; other image sizes have no FID-proxy");
  at::Tensor h1 = torch::relu(conv1_(x));
  at::Tensor h2 = torch::relu(conv2_(torch::max_pool2d(h1, 2)));
  at::Tensor h3 = torch::relu(conv3_(torch::max_pool2d(h2, 2)));
  at::Tensor f = torch::relu(fc_(h3.flatten(1)));
  return {h1, h2, h3, f};
}

at::Tensor FidNetImpl::features(const at::Tensor& x) { return layers(x).back(); }

at::Tensor FidNetImpl::forward(const at::Tensor& x) {
  at::Tensor f = features(x);
  return head_(torch::dropout(f, 0.3, is_training()));
}

namespace {

at::Tensor batched(FidNet& net, const at::Tensor& images, int64_t batch, bool logits) {
  torch::NoGradGuard ng;
  const bool was_training = net->is_training();
  net->eval();
  auto dev = net->parameters().front().device();
  std::vector<at::Tensor> out;
  for (int64_t i = 0; i < images.size(0); i += batch) {
    at::Tensor x = images.slice(0, i, std::min(i + batch, images.size(0))).to(dev, torch::kFloat32);
    out.push_back((logits ? net->forward(x) : net->features(x)).cpu());
  }
  net->train(was_training);
  return out.empty() ? torch::empty({0, logits ? 10 : FidNetImpl::kFeatureDim}) : torch::cat(out);
}

}  // namespace

at::Tensor fidnet_features(FidNet& net, const at::Tensor& images, int64_t batch) {
  return batched(net, images, batch, false);
}

at::Tensor fidnet_predict(FidNet& net, const at::Tensor& images, int64_t batch) {
  return batched(net, images, batch, true).argmax(1);
}

double fid_proxy(FidNet& net, const at::Tensor& images, const FeatureStats& reference) {
  return frechet_distance(feature_stats(fidnet_features(net, images.clamp(-1, 1))), reference);
}

double class_accuracy(FidNet& net, const at::Tensor& images, const at::Tensor& labels) {
  return fidnet_predict(net, images.clamp(-1, 1)).eq(labels.cpu()).to(torch::kFloat64).mean().item<double>();
}

std::string weights_id(torch::nn::Module& m) {
  uint64_t h = kFingerprintSeed;
  for (const auto& p : m.named_parameters()) {
    at::Tensor t = p.value().detach().cpu().contiguous();
    h = fingerprint_bytes(t.data_ptr(), t.nbytes(), h);
  }
  return fingerprint_hex(h);
}

FidNet train_fidnet(const FidNetTrainOptions& opt, FidNetInfo* info) {
  RF_CHECK(opt.epochs >= 1 && opt.batch_size >= 1 && opt.lr > 0, "bad FID-network training options", "fidnet train",
           "epochs >= 1, batch_size >= 1, lr > 0");
  auto t0 = std::chrono::steady_clock::now();
  auto train = load_fashion_mnist(opt.data_dir, "train", false);
  auto test = load_fashion_mnist(opt.data_dir, "test", false);
  at::Tensor x = train->all(), y = train->labels();
  if (opt.limit > 0 && opt.limit < x.size(0)) x = x.slice(0, 0, opt.limit), y = y.slice(0, 0, opt.limit);
  seed_all(opt.seed);
  FidNet net;
  torch::optim::Adam optim(net->parameters(), torch::optim::AdamOptions(opt.lr));
  const int64_t n = x.size(0), steps_per_epoch = (n + opt.batch_size - 1) / opt.batch_size;
  net->train();
  Progress bar("fidnet train", opt.epochs * steps_per_epoch);
  for (int64_t e = 0; e < opt.epochs; ++e) {
    at::Tensor perm = torch::randperm(n, torch::kInt64);
    double loss_sum = 0;
    for (int64_t s = 0; s < steps_per_epoch; ++s) {
      at::Tensor idx = perm.slice(0, s * opt.batch_size, std::min(n, (s + 1) * opt.batch_size));
      // Light augmentation (flips) is deterministic through the seeded generator.
      at::Tensor xb = x.index_select(0, idx);
      at::Tensor flip = torch::rand({xb.size(0)}) < 0.5;
      xb = torch::where(flip.view({-1, 1, 1, 1}), xb.flip(3), xb);
      at::Tensor loss = torch::nn::functional::cross_entropy(net->forward(xb), y.index_select(0, idx));
      optim.zero_grad();
      loss.backward();
      optim.step();
      loss_sum += loss.item<double>();
      bar.update(e * steps_per_epoch + s + 1, fmt::format("epoch {}/{}", e + 1, opt.epochs));
    }
    // The last epoch at a tenth of the rate settles the weights.
    if (e + 2 == opt.epochs)
      for (auto& g : optim.param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(opt.lr * 0.1);
    spdlog::info("fidnet: epoch {}/{}: mean loss {:.4f}", e + 1, opt.epochs, loss_sum / double(steps_per_epoch));
  }
  bar.finish();
  net->eval();
  at::Tensor tx = test->all(), ty = test->labels();
  if (opt.test_limit > 0 && opt.test_limit < tx.size(0)) tx = tx.slice(0, 0, opt.test_limit), ty = ty.slice(0, 0, opt.test_limit);
  const double acc = class_accuracy(net, tx, ty);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("fidnet: test accuracy {:.2f}% after {} epochs ({:.0f} s)", 100 * acc, opt.epochs, secs);
  if (info) {
    info->test_accuracy = acc;
    info->id = weights_id(*net);
    info->train_seconds = secs;
    info->epochs = opt.epochs;
  }
  return net;
}

void save_fidnet(const std::string& path, FidNet& net, const FidNetInfo& info) {
  if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path());
  io::NamedTensors t;
  for (const auto& p : net->named_parameters()) t.emplace_back(p.key(), p.value().detach().cpu());
  io::save_safetensors(path, t,
                       {{"format", "rflow-fidnet-v1"},
                        {"test_accuracy", fmt::format("{:.6f}", info.test_accuracy)},
                        {"epochs", std::to_string(info.epochs)},
                        {"train_seconds", fmt::format("{:.1f}", info.train_seconds)}});
}

FidNet load_fidnet(const std::string& path, FidNetInfo* info) {
  io::SafetensorsData d = io::load_safetensors(path);
  auto it = d.metadata.find("format");
  RF_CHECK(it != d.metadata.end() && it->second == "rflow-fidnet-v1", "'" + path + "' is not an rflow FID network",
           "fidnet", "train one with `rflow fidnet train`");
  FidNet net;
  torch::NoGradGuard ng;
  for (auto& p : net->named_parameters()) {
    at::Tensor src = io::find_tensor(d, p.key());
    RF_CHECK(src.sizes() == p.value().sizes(), "FID network '" + path + "': " + p.key() + " has the wrong shape",
             "fidnet", "retrain it with `rflow fidnet train --force`");
    p.value().copy_(src);
  }
  net->eval();
  if (info) {
    info->path = path;
    info->id = weights_id(*net);
    info->test_accuracy = std::stod(d.metadata.count("test_accuracy") ? d.metadata["test_accuracy"] : "0");
    info->epochs = std::stoll(d.metadata.count("epochs") ? d.metadata["epochs"] : "0");
    info->train_seconds = std::stod(d.metadata.count("train_seconds") ? d.metadata["train_seconds"] : "0");
  }
  return net;
}

std::string default_fidnet_path() {
  if (const char* p = std::getenv("RFLOW_FIDNET"); p && *p) return p;
  fs::path base;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) base = x;
  else if (const char* h = std::getenv("HOME"); h && *h) base = fs::path(h) / ".cache";
  else base = ".cache";
  return (base / "rflow" / "fidnet_fashion_mnist_v1.safetensors").string();
}

FidNet cached_fidnet(const std::string& path, FidNetInfo* info) {
  // One process may ask from several places (eval, the feature loss); train at most once.
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  const std::string p = path.empty() ? default_fidnet_path() : path;
  if (!fs::exists(p)) {
    spdlog::info("fidnet: no FID network at {}: training it once (pinned recipe, a few minutes)", p);
    FidNetInfo fi;
    FidNet net = train_fidnet(FidNetTrainOptions{}, &fi);
    save_fidnet(p, net, fi);
  }
  return load_fidnet(p, info);
}

// LPIPS-style distance: unit-normalise each position's channel vector, squared difference, mean
// over positions, summed over layers. The network is frozen; gradients flow to `pred` only.
void add_fidnet_distance(Registry<FeatureDistanceFactory>& r) {
  if (r.contains("fidnet")) return;
  r.add(
      "fidnet", "Fashion-MNIST FID network: LPIPS-style distance of its normalised conv + feature activations",
      [](const std::vector<int64_t>& shape) -> FeatureDistance {
        RF_CHECK(shape == std::vector<int64_t>({1, 28, 28}), "feature distance 'fidnet' needs 1×28×28 images",
                 "method.distill.feature", "use loss = \"l2\" or \"pseudo_huber\" for other data");
        auto net = std::make_shared<FidNet>(cached_fidnet(""));
        for (auto& p : (*net)->parameters()) p.requires_grad_(false);
        return [net](const at::Tensor& pred, const at::Tensor& target) {
          auto dev = pred.device();
          if ((*net)->parameters().front().device() != dev) (*net)->to(dev);
          // Channels are dim 1 for conv maps and the feature vector alike.
          auto norm = [](const at::Tensor& h) { return h / (h.pow(2).sum(1, true).sqrt() + 1e-10); };
          std::vector<at::Tensor> a = (*net)->layers(pred), b;
          {
            torch::NoGradGuard ng;
            b = (*net)->layers(target);
          }
          at::Tensor d = torch::zeros({pred.size(0)}, pred.options());
          for (size_t i = 0; i < a.size(); ++i) d = d + (norm(a[i]) - norm(b[i])).pow(2).flatten(1).sum(1) /
                                                          double(a[i].dim() == 4 ? a[i].size(2) * a[i].size(3) : 1);
          return d;
        };
      });
}


}  // namespace rflow::eval
