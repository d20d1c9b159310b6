// `rflow fidnet train|info|score`: the shipped Fashion-MNIST networks (rflow/eval/pinned_nets.h) —
// the evaluator behind FID-proxy and class accuracy, the perceptual loss network, the judge —
// rebuilt from their recipes and compared with the pinned ones, and scoring any .npy image array.
#include <filesystem>
#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/data/image_dataset.h"
#include "rflow/eval/fidnet.h"
#include "rflow/eval/frechet.h"
#include "rflow/eval/pinned_nets.h"
#include "rflow/io/npy.h"
#include "tools/rflow/commands.h"

namespace rflow::cli {

namespace {

void use_all_cores() { torch::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))); }

void print_info(const eval::FidNetInfo& i) {
  std::cout << "network        " << i.path << "\n"
            << "id             " << i.id << "\n";
  if (!i.role.empty()) std::cout << "role           " << i.role << "\n";
  std::cout
            << "test accuracy  " << fmt::format("{:.2f}%", 100 * i.test_accuracy) << " (Fashion-MNIST test set, 10k)\n"
            << "trained        " << i.epochs << " epochs in " << fmt::format("{:.0f}", i.train_seconds) << " s\n";
}

struct TrainArgs {
  std::string net = "fidnet", out, data = kFashionMnistDir;
  int64_t limit = 0, epochs = 0;
  bool force = false;
};

// Rebuilds a shipped network from its recipe (or loads an earlier rebuild) and compares it with
// the pinned one.
void run_fidnet_train(const TrainArgs& a) {
  use_all_cores();
  const eval::PinnedNet& pinned = eval::pinned_net(a.net);
  std::string path = a.out;
  if (path.empty()) {
    const char* home = std::getenv("HOME");
    path = (std::filesystem::path(home && *home ? home : ".") / ".cache" / "rflow" / pinned.file).string();
  }
  RF_CHECK(std::filesystem::absolute(path) != std::filesystem::absolute(eval::pinned_net_path(a.net)),
           "--out is the shipped network itself", "rflow fidnet train --out",
           "write the rebuild elsewhere: the shipped file is what every figure is pinned to");
  eval::FidNetInfo rebuilt;
  eval::FidNet net{nullptr};
  if (std::filesystem::exists(path) && !a.force) {
    net = eval::load_fidnet(path, &rebuilt);
    std::cout << "already built (--force rebuilds):\n";
  } else {
    eval::FidNetTrainOptions o = pinned.recipe;
    o.data_dir = a.data;
    o.limit = a.limit;
    if (a.epochs > 0) o.epochs = a.epochs;
    net = eval::train_fidnet(o, &rebuilt);
    rebuilt.role = pinned.role;
    eval::save_fidnet(path, net, rebuilt);
    rebuilt.path = path;
  }
  print_info(rebuilt);
  // How close the rebuild comes: the same recipe on another CPU or BLAS gives other weights.
  eval::FidNetInfo shipped;
  std::string note;
  try {
    eval::FidNet ref = eval::load_pinned_net(a.net, &shipped);
    auto test = load_fashion_mnist(a.data, "test", false);
    const at::Tensor x = test->all();
    const double agree = eval::fidnet_predict(net, x).eq(eval::fidnet_predict(ref, x)).to(torch::kFloat64).mean().item<double>();
    note = fmt::format("pinned         {} ({}): {}; test accuracy {:.2f}%; the two agree on {:.2f}% of the test images\n",
                       shipped.id, shipped.path, shipped.id == rebuilt.id ? "the same weights" : "other weights",
                       100 * shipped.test_accuracy, 100 * agree);
  } catch (const Error& e) {
    note = std::string("pinned         not comparable: ") + e.what() + "\n";
  }
  std::cout << note;
}

void add_fidnet_train(CLI::App& cmd) {
  auto* train = cmd.add_subcommand("train", "rebuild a shipped network from its recipe and compare it with the pinned one");
  auto ta = std::make_shared<TrainArgs>();
  train->add_option("--net", ta->net, "which: fidnet (the evaluator), percept (the loss network), judge")->capture_default_str();
  train->add_option("--out", ta->out, "where to write it (default: ~/.cache/rflow/<its file name>)");
  train->add_option("--data", ta->data, "Fashion-MNIST IDX folder")->capture_default_str();
  train->add_flag("--force", ta->force, "retrain even if --out exists");
  train->add_option("--limit", ta->limit, "train on the first N images only (tests; not the pinned network)");
  train->add_option("--epochs", ta->epochs, "epochs instead of the recipe's (tests; not the pinned network)");
  train->callback([ta] { run_fidnet_train(*ta); });
}

void add_fidnet_info(CLI::App& cmd) {
  auto* info = cmd.add_subcommand("info", "print a network's id, role and test accuracy (default: the evaluator in use)");
  auto ipath = std::make_shared<std::string>();
  auto inet = std::make_shared<std::string>();
  info->add_option("path", *ipath, "network file (default: the evaluator in use)");
  info->add_option("--net", *inet, "a shipped network instead: fidnet, percept or judge");
  info->callback([ipath, inet] {
    eval::FidNetInfo i;
    if (!inet->empty()) {
      eval::load_pinned_net(*inet, &i);
    } else {
      const std::string p = ipath->empty() ? eval::default_fidnet_path() : *ipath;
      RF_CHECK(std::filesystem::exists(p), "no network at " + p, "rflow fidnet info", "see `rflow fidnet train --help`");
      if (ipath->empty()) eval::cached_fidnet("", &i);
      else eval::load_fidnet(p, &i);
    }
    print_info(i);
  });
}

void add_fidnet_score(CLI::App& cmd) {
  auto* score = cmd.add_subcommand("score", "FID-proxy of an .npy image array [N, 1, 28, 28] in [-1, 1] vs the test set");
  auto samples = std::make_shared<std::string>(), labels = std::make_shared<std::string>();
  auto data = std::make_shared<std::string>(kFashionMnistDir);
  auto net_path = std::make_shared<std::string>();
  score->add_option("samples", *samples, "images (.npy, float in [-1, 1] or uint8)")->required()->check(CLI::ExistingFile);
  score->add_option("--labels", *labels, "the labels the samples were conditioned on (.npy): adds class accuracy")
      ->check(CLI::ExistingFile);
  score->add_option("--data", *data, "Fashion-MNIST IDX folder")->capture_default_str();
  score->add_option("--fidnet", *net_path, "network file (default: the shipped evaluator, or $RFLOW_FIDNET)");
  score->callback([samples, labels, data, net_path] {
    // Every input checked before the network is loaded and the test set's statistics computed.
    at::Tensor x = io::read_npy_samples(*samples, {1, 28, 28});
    const double lo = x.min().item<double>(), hi = x.max().item<double>();
    // A flow overshoots [-1, 1] by a few units early in training; 0-255 values or [-100, 100] are another scale.
    RF_CHECK(lo >= -10 && hi <= 10, fmt::format("the images range from {:.4g} to {:.4g}", lo, hi), *samples,
             "float images are scaled to [-1, 1] (x / 127.5 - 1 for 0-255 values), or save them as uint8");
    at::Tensor y;
    if (!labels->empty()) {
      const at::Tensor raw = io::read_npy(*labels).flatten();
      RF_CHECK(raw.size(0) == x.size(0), fmt::format("{} labels for {} samples", raw.size(0), x.size(0)), *labels,
               "one label per sample, in the samples' order");
      y = raw.to(torch::kInt64);
      RF_CHECK(raw.is_floating_point() ? torch::equal(raw.to(torch::kDouble), y.to(torch::kDouble)) : true,
               "the labels are not whole numbers", *labels, "save the class indices 0-9 as integers");
      RF_CHECK(y.numel() == 0 || (y.min().item<int64_t>() >= 0 && y.max().item<int64_t>() <= 9),
               fmt::format("labels from {} to {}; Fashion-MNIST's classes are 0-9", y.min().item<int64_t>(), y.max().item<int64_t>()),
               *labels, "save the class indices 0-9 the samples were conditioned on");
    }
    use_all_cores();
    eval::FidNetInfo i;
    eval::FidNet net = eval::cached_fidnet(*net_path, &i);
    auto test = load_fashion_mnist(*data, "test", false);
    const double fid = eval::fid_proxy(net, x, eval::feature_stats(eval::fidnet_features(net, test->all())));
    std::cout << fmt::format("fid_proxy {:.4f}  ({} samples vs {} test images, fidnet {})\n", fid, x.size(0),
                             test->size(), i.id);
    if (y.defined()) {
      const double acc = eval::class_accuracy(net, x, y);
      std::cout << fmt::format("class_accuracy {:.4f}  (classifier's own test accuracy {:.4f})\n", acc, i.test_accuracy);
    }
  });
}

}  // namespace

void add_fidnet(CLI::App& app) {
  auto* cmd = app.add_subcommand("fidnet", "the shipped image networks (evaluator, loss, judge): rebuild, info, score .npy images");
  cmd->footer("\nExamples:\n  rflow fidnet info\n  rflow fidnet info --net percept\n  rflow fidnet train --net judge\n"
              "  rflow fidnet score s.npy --labels s.labels.npy");
  cmd->require_subcommand(1);
  add_fidnet_train(*cmd);
  add_fidnet_info(*cmd);
  add_fidnet_score(*cmd);
}

}  // namespace rflow::cli
