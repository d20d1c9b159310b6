#include "rflow/eval/fidnet.h"

#include <nlohmann/json.hpp>

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
#include "rflow/eval/composite_scorer.h"
#include "rflow/eval/pinned_nets.h"
#include "rflow/io/safetensors.h"
#include "rflow/methods/distill.h"

namespace fs = std::filesystem;

namespace rflow::eval {

std::string FeatureNetSpec::to_json() const {
  return nlohmann::json{{"channels", channels}, {"kernel", kernel}, {"pool", pool}, {"fc_grid", fc_grid},
                        {"feature_dim", feature_dim}}
      .dump();
}

FeatureNetSpec FeatureNetSpec::from_json(const std::string& text, const std::string& where) {
  FeatureNetSpec s;
  try {
    const auto j = nlohmann::json::parse(text);
    s.channels = j.at("channels").get<std::vector<int64_t>>();
    s.kernel = j.at("kernel").get<int64_t>();
    s.pool = j.at("pool").get<std::string>();
    s.fc_grid = j.at("fc_grid").get<int64_t>();
    s.feature_dim = j.at("feature_dim").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw Error("its architecture (metadata 'spec') is unreadable: " + std::string(e.what()), where,
                "rebuild it with `rflow fidnet train`");
  }
  RF_CHECK(s.channels.size() == 3 && s.kernel >= 1 && s.kernel % 2 == 1 && (s.pool == "max" || s.pool == "avg") &&
               s.fc_grid >= 1 && s.fc_grid <= 7 && s.feature_dim >= 1,
           "its architecture (metadata 'spec') is not one rflow builds: " + text, where,
           "rebuild it with `rflow fidnet train`");
  for (auto c : s.channels) RF_CHECK(c >= 1 && c <= 4096, "its architecture has a bad width: " + text, where, "");
  return s;
}

FidNetImpl::FidNetImpl(FeatureNetSpec spec) : spec_(std::move(spec)) {
  namespace nn = torch::nn;
  const auto& c = spec_.channels;
  const int64_t k = spec_.kernel;
  conv1_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(1, c[0], k).padding(k / 2)));
  conv2_ = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(c[0], c[1], k).padding(k / 2)));
  conv3_ = register_module("conv3", nn::Conv2d(nn::Conv2dOptions(c[1], c[2], k).padding(k / 2)));
  fc_ = register_module("fc", nn::Linear(c[2] * spec_.fc_grid * spec_.fc_grid, spec_.feature_dim));
  head_ = register_module("head", nn::Linear(spec_.feature_dim, 10));
}

std::vector<at::Tensor> FidNetImpl::layers(const at::Tensor& x) {
  RF_CHECK(x.dim() == 4 && x.size(1) == 1 && x.size(2) == 28 && x.size(3) == 28,
           "the FID-proxy network takes [N, 1, 28, 28] images, got " + shape_str(x), "fidnet",
           "it is the Fashion-MNIST feature network; other image sizes have no FID-proxy");
  auto pool = [&](const at::Tensor& h) { return spec_.pool == "max" ? torch::max_pool2d(h, 2) : torch::avg_pool2d(h, 2); };
  at::Tensor h1 = torch::relu(conv1_(x));
  at::Tensor h2 = torch::relu(conv2_(pool(h1)));
  at::Tensor h3 = torch::relu(conv3_(pool(h2)));
  at::Tensor g = spec_.fc_grid == 7 ? h3 : torch::adaptive_avg_pool2d(h3, {spec_.fc_grid, spec_.fc_grid});
  at::Tensor f = torch::relu(fc_(g.flatten(1)));
  return {h1, h2, h3, f};
}

at::Tensor FidNetImpl::features(const at::Tensor& x) { return layers(x).back(); }

at::Tensor FidNetImpl::forward(const at::Tensor& x) { return classify(torch::dropout(features(x), 0.3, is_training())); }

at::Tensor FidNetImpl::classify(const at::Tensor& features) { return head_(features); }

namespace {

// Features and (when asked) predicted classes, batch by batch in eval mode: one pass for both.
std::pair<at::Tensor, at::Tensor> batched(FidNet& net, const at::Tensor& images, int64_t batch, bool predictions) {
  torch::NoGradGuard ng;
  const bool was_training = net->is_training();
  net->eval();
  auto dev = net->parameters().front().device();
  std::vector<at::Tensor> feats, preds;
  for (int64_t i = 0; i < images.size(0); i += batch) {
    at::Tensor x = images.slice(0, i, std::min(i + batch, images.size(0))).to(dev, torch::kFloat32);
    at::Tensor f = net->features(x);
    if (predictions) preds.push_back(net->classify(f).argmax(1).cpu());
    feats.push_back(f.cpu());
  }
  net->train(was_training);
  if (feats.empty()) return {torch::empty({0, net->spec().feature_dim}), torch::empty({0}, torch::kInt64)};
  return {torch::cat(feats), predictions ? torch::cat(preds) : at::Tensor()};
}

}  // namespace

at::Tensor fidnet_features(FidNet& net, const at::Tensor& images, int64_t batch) {
  return batched(net, images, batch, false).first;
}

at::Tensor fidnet_predict(FidNet& net, const at::Tensor& images, int64_t batch) {
  return batched(net, images, batch, true).second;
}

std::pair<at::Tensor, at::Tensor> fidnet_features_and_predictions(FidNet& net, const at::Tensor& images, int64_t batch) {
  return batched(net, images, batch, true);
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
  FidNet net(opt.spec);
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
                        {"spec", net->spec().to_json()},
                        {"role", info.role},
                        {"test_accuracy", fmt::format("{:.6f}", info.test_accuracy)},
                        {"epochs", std::to_string(info.epochs)},
                        {"train_seconds", fmt::format("{:.1f}", info.train_seconds)}});
}

FidNet load_fidnet(const std::string& path, FidNetInfo* info) {
  io::SafetensorsData d = io::load_safetensors(path);
  auto it = d.metadata.find("format");
  RF_CHECK(it != d.metadata.end() && it->second == "rflow-fidnet-v1", "'" + path + "' is not an rflow FID network",
           "fidnet", "train one with `rflow fidnet train`");
  // Files from before the architecture was recorded are the evaluator's.
  FidNet net(d.metadata.count("spec") ? FeatureNetSpec::from_json(d.metadata.at("spec"), path) : FeatureNetSpec{});
  torch::NoGradGuard ng;
  RF_CHECK(d.tensors.size() == net->named_parameters().size(),
           "FID network '" + path + "' holds " + std::to_string(d.tensors.size()) + " tensors, its architecture " +
               std::to_string(net->named_parameters().size()),
           "fidnet", "rebuild it with `rflow fidnet train`");
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
    info->role = d.metadata.count("role") ? d.metadata["role"] : "";
  }
  return net;
}

std::string default_fidnet_path() {
  if (const char* p = std::getenv("RFLOW_FIDNET"); p && *p) return p;
  return pinned_net_path("fidnet");
}

FidNet cached_fidnet(const std::string& path, FidNetInfo* info) {
  // One process may ask from several places (eval, the feature loss); train at most once.
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  const std::string p = path.empty() ? default_fidnet_path() : path;
  if (p == pinned_net_path("fidnet")) return load_pinned_net("fidnet", info);
  if (!fs::exists(p)) {
    spdlog::info("fidnet: no FID network at {}: training it once (pinned recipe, a few minutes)", p);
    FidNetInfo fi;
    FidNet net = train_fidnet(FidNetTrainOptions{}, &fi);
    save_fidnet(p, net, fi);
  }
  return load_fidnet(p, info);
}

namespace {

// LPIPS-style distance: unit-normalise each position's channel vector, squared difference, mean
// over positions, summed over layers. The network is frozen; gradients flow to `pred` only.
FeatureDistance layer_distance(std::shared_ptr<FidNet> net) {
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
    for (size_t i = 0; i < a.size(); ++i)
      d = d + (norm(a[i]) - norm(b[i])).pow(2).flatten(1).sum(1) / double(a[i].dim() == 4 ? a[i].size(2) * a[i].size(3) : 1);
    return d;
  };
}

// 1×28×28 images, or composites of 28×28 cells (rows × cols garments), which are compared cell by
// cell: the networks were trained on single garments and read nothing across a cell's border.
void check_fmnist_shape(const std::vector<int64_t>& shape, const std::string& name) {
  RF_CHECK(shape.size() == 3 && shape[0] == 1 && shape[1] > 0 && shape[2] > 0 && shape[1] % 28 == 0 && shape[2] % 28 == 0,
           "feature distance '" + name + "' needs 1×28×28 images or composites of 28×28 cells",
           "method.distill.feature", "use loss = \"l2\" or \"pseudo_huber\" for other data");
}

// A composite's distance is the mean of its cells' distances, so one garment weighs the same in a
// row of two as alone.
FeatureDistance by_cells(FeatureDistance d) {
  return [d](const at::Tensor& pred, const at::Tensor& target) {
    if (pred.size(2) == 28 && pred.size(3) == 28) return d(pred, target);
    const int64_t cells = pred.size(2) / 28 * (pred.size(3) / 28);
    return d(composite_cells(pred), composite_cells(target)).view({pred.size(0), cells}).mean(1);
  };
}

}  // namespace

void add_fidnet_distance(Registry<FeatureDistanceFactory>& r) {
  if (!r.contains("percept"))
    r.add("percept",
          "the shipped perceptual network (not the evaluator): LPIPS-style distance of its normalised activations",
          [](const std::vector<int64_t>& shape) -> FeatureDistance {
            check_fmnist_shape(shape, "percept");
            return by_cells(layer_distance(std::make_shared<FidNet>(load_pinned_net("percept"))));
          });
  if (!r.contains("fidnet"))
    r.add("fidnet",
          "the FID-proxy evaluator itself (a run it also evaluates must opt in: method.distill.allow_eval_network)",
          [](const std::vector<int64_t>& shape) -> FeatureDistance {
            check_fmnist_shape(shape, "fidnet");
            return by_cells(layer_distance(std::make_shared<FidNet>(cached_fidnet(""))));
          });
}


void add_fidnet_repa_target(Registry<FeatureGridFactory>& r) {
  if (r.contains("percept")) return;
  r.add("percept", "the shipped perceptual network's 7×7 map of each 28×28 cell (third convolution), stitched over the cells",
        [](const std::vector<int64_t>& shape, int64_t patch) -> FeatureGrid {
          check_fmnist_shape(shape, "percept");
          RF_CHECK(patch == 4, "the percept REPA target is a 7×7 map per 28-pixel cell: the generation patch must be 4",
                   "model.janusflow.gen_patch", "set gen_patch = 4, or method.janusflow.repa_weight = 0");
          auto net = std::make_shared<FidNet>(load_pinned_net("percept"));
          for (auto& p : (*net)->parameters()) p.requires_grad_(false);
          (*net)->eval();
          return [net](const at::Tensor& images) {
            torch::NoGradGuard ng;
            const int64_t B = images.size(0), R = images.size(2) / 28, K = images.size(3) / 28;
            if ((*net)->parameters().front().device() != images.device()) (*net)->to(images.device());
            const at::Tensor h = (*net)->layers(composite_cells(images))[2];  // [B·R·K, D, 7, 7]
            const int64_t D = h.size(1);
            return h.reshape({B, R, K, D, 7, 7}).permute({0, 1, 4, 2, 5, 3}).reshape({B, R * 7 * K * 7, D});
          };
        });
}

}  // namespace rflow::eval
