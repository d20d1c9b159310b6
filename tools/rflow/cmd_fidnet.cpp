// `rflow fidnet train|info|score`: the pinned Fashion-MNIST feature network behind FID-proxy and
// class accuracy (rflow/eval/fidnet.h), and scoring any .npy image array against the test set.
#include <filesystem>
#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/data/image_dataset.h"
#include "rflow/eval/fidnet.h"
#include "rflow/eval/frechet.h"
#include "rflow/io/npy.h"
#include "tools/rflow/commands.h"

namespace rflow::cli {

namespace {

void use_all_cores() { torch::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))); }

void print_info(const eval::FidNetInfo& i) {
  std::cout << "fidnet         " << i.path << "\n"
            << "id             " << i.id << "\n"
            << "test accuracy  " << fmt::format("{:.2f}%", 100 * i.test_accuracy) << " (Fashion-MNIST test set, 10k)\n"
            << "trained        " << i.epochs << " epochs in " << fmt::format("{:.0f}", i.train_seconds) << " s\n";
}

}  // namespace

void add_fidnet(CLI::App& app) {
  auto* cmd = app.add_subcommand("fidnet", "the FID-proxy feature network: train (cached), info, score .npy images");
  cmd->footer("\nExamples:\n  rflow fidnet train\n  rflow fidnet info\n  rflow fidnet score s.npy --labels s.labels.npy");
  cmd->require_subcommand(1);

  auto* train = cmd->add_subcommand("train", "train the pinned Fashion-MNIST classifier and cache it");
  auto topt = std::make_shared<eval::FidNetTrainOptions>();
  auto out = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  train->add_option("--out", *out, "where to cache it (default: " + eval::default_fidnet_path() + ")");
  train->add_option("--data", topt->data_dir, "Fashion-MNIST IDX folder")->capture_default_str();
  train->add_option("--epochs", topt->epochs, "epochs (changing it changes every FID-proxy)")->capture_default_str();
  train->add_flag("--force", *force, "retrain even if the cache exists");
  train->add_option("--limit", topt->limit, "train on the first N images only (tests; not the pinned network)");
  train->callback([topt, out, force] {
    use_all_cores();
    const std::string path = out->empty() ? eval::default_fidnet_path() : *out;
    if (std::filesystem::exists(path) && !*force) {
      eval::FidNetInfo i;
      eval::load_fidnet(path, &i);
      std::cout << "already cached (--force retrains):\n";
      print_info(i);
      return;
    }
    eval::FidNetInfo i;
    eval::FidNet net = eval::train_fidnet(*topt, &i);
    eval::save_fidnet(path, net, i);
    i.path = path;
    print_info(i);
  });

  auto* info = cmd->add_subcommand("info", "print the cached network's id and test accuracy");
  auto ipath = std::make_shared<std::string>();
  info->add_option("path", *ipath, "network file (default: the cache)");
  info->callback([ipath] {
    const std::string p = ipath->empty() ? eval::default_fidnet_path() : *ipath;
    RF_CHECK(std::filesystem::exists(p), "no FID network at " + p, "rflow fidnet info", "run `rflow fidnet train`");
    eval::FidNetInfo i;
    eval::load_fidnet(p, &i);
    print_info(i);
  });

  auto* score = cmd->add_subcommand("score", "FID-proxy of an .npy image array [N, 1, 28, 28] in [-1, 1] vs the test set");
  auto samples = std::make_shared<std::string>(), labels = std::make_shared<std::string>();
  auto data = std::make_shared<std::string>(kFashionMnistDir);
  auto net_path = std::make_shared<std::string>();
  score->add_option("samples", *samples, "images (.npy, float in [-1, 1] or uint8)")->required()->check(CLI::ExistingFile);
  score->add_option("--labels", *labels, "the labels the samples were conditioned on (.npy): adds class accuracy")
      ->check(CLI::ExistingFile);
  score->add_option("--data", *data, "Fashion-MNIST IDX folder")->capture_default_str();
  score->add_option("--fidnet", *net_path, "network file (default: the cache, trained if missing)");
  score->callback([samples, labels, data, net_path] {
    use_all_cores();
    eval::FidNetInfo i;
    eval::FidNet net = eval::cached_fidnet(*net_path, &i);
    at::Tensor x = io::read_npy_samples(*samples, {1, 28, 28});
    auto test = load_fashion_mnist(*data, "test", false);
    const double fid = eval::fid_proxy(net, x, eval::feature_stats(eval::fidnet_features(net, test->all())));
    std::cout << fmt::format("fid_proxy {:.4f}  ({} samples vs {} test images, fidnet {})\n", fid, x.size(0),
                             test->size(), i.id);
    if (!labels->empty()) {
      at::Tensor y = io::read_npy(*labels).to(torch::kInt64).flatten();
      RF_CHECK(y.size(0) == x.size(0), "labels and samples differ in number", "rflow fidnet score --labels", "");
      const double acc = eval::class_accuracy(net, x, y);
      std::cout << fmt::format("class_accuracy {:.4f}  (classifier's own test accuracy {:.4f})\n", acc, i.test_accuracy);
    }
  });
}

}  // namespace rflow::cli
