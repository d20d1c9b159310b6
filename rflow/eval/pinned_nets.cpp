#include "rflow/eval/pinned_nets.h"

#include <cstdlib>
#include <filesystem>

#include "rflow/core/error.h"

namespace fs = std::filesystem;

namespace rflow::eval {

namespace {
FidNetTrainOptions recipe(FeatureNetSpec spec, uint64_t seed) {
  FidNetTrainOptions o;
  o.spec = std::move(spec);
  o.seed = seed;
  return o;
}
}  // namespace

const std::vector<PinnedNet>& pinned_nets() {
  // Three architectures and seeds: a loss network that shares nothing with the evaluator but the
  // training data, and a judge that shares nothing with either.
  static const std::vector<PinnedNet> nets = {
      {"fidnet", "the evaluator: FID-proxy features and class accuracy", "fidnet_fashion_mnist_v1.safetensors",
       "f74f147525d63d07", recipe({{32, 64, 128}, 3, "max", 7, 128}, 0)},
      {"percept", "the perceptual network for feature losses (method.distill.feature = \"percept\")",
       "percept_fashion_mnist_v1.safetensors", "08c6d3d631c2bfbe", recipe({{16, 32, 64}, 5, "max", 7, 64}, 1)},
      {"judge", "the independent judge: class accuracy and per-class diversity", "judge_fashion_mnist_v1.safetensors",
       "f45cd29eef3d33cb", recipe({{24, 32, 48}, 3, "avg", 7, 96}, 2)},
  };
  return nets;
}

const PinnedNet& pinned_net(const std::string& name) {
  std::string names;
  for (const auto& n : pinned_nets()) {
    if (n.name == name) return n;
    names += (names.empty() ? "" : ", ") + n.name;
  }
  throw Error("no shipped network '" + name + "'", "pinned networks", "use one of: " + names);
}

std::string models_dir() {
  if (const char* d = std::getenv("RFLOW_MODELS_DIR"); d && *d) return d;
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path().parent_path() / "share" / "rflow" / "models");
#ifdef RFLOW_INSTALL_MODELS
  candidates.emplace_back(RFLOW_INSTALL_MODELS);
#endif
#ifdef RFLOW_SOURCE_MODELS
  candidates.emplace_back(RFLOW_SOURCE_MODELS);
#endif
  for (const auto& c : candidates)
    if (fs::is_regular_file(c / pinned_nets().front().file, ec)) return c.string();
  return candidates.empty() ? "models" : candidates.back().string();
}

std::string pinned_net_path(const std::string& name) { return (fs::path(models_dir()) / pinned_net(name).file).string(); }

FidNet load_pinned_net(const std::string& name, FidNetInfo* info) {
  const PinnedNet& n = pinned_net(name);
  const std::string path = pinned_net_path(name);
  RF_CHECK(fs::is_regular_file(path), "the shipped network '" + name + "' (" + n.role + ") is not at " + path,
           "pinned networks",
           "reinstall rflow, restore the source tree's models/ (git checkout models/), or point RFLOW_MODELS_DIR at a "
           "folder holding it");
  FidNetInfo i;
  FidNet net = load_fidnet(path, &i);
  RF_CHECK(i.id == n.id,
           "the network at " + path + " is not the pinned '" + name + "' (weights " + i.id + ", pinned " + n.id + ")",
           "pinned networks",
           "restore the shipped file (git checkout models/, or reinstall); to score with another network on purpose, "
           "name it with RFLOW_FIDNET or eval.fidnet, and its id goes with every figure");
  RF_CHECK(net->spec() == n.recipe.spec, "the network at " + path + " has another architecture than '" + name + "'",
           "pinned networks", "restore the shipped file");
  i.role = n.role;
  if (info) *info = i;
  return net;
}

}  // namespace rflow::eval
