// The shipped networks: each loads with the fingerprint it is pinned to and the architecture of its
// recipe, the three share neither; a file altered by one weight or missing is refused with what to
// do; the evaluator in use is the shipped one unless RFLOW_FIDNET names another. The perceptual
// distance registered for losses is a different function from the evaluator's.
#include "rflow/eval/pinned_nets.h"

#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/methods/distill.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using namespace rflow;

TEST(PinnedNets, EachLoadsAsPinnedAndTheyShareNothing) {
  ASSERT_EQ(eval::pinned_nets().size(), 3u);
  std::set<std::string> ids;
  std::vector<eval::FeatureNetSpec> specs;
  for (const auto& n : eval::pinned_nets()) {
    eval::FidNetInfo info;
    eval::FidNet net = eval::load_pinned_net(n.name, &info);
    EXPECT_EQ(info.id, n.id) << n.name;
    EXPECT_EQ(eval::weights_id(*net), n.id) << n.name;
    EXPECT_TRUE(net->spec() == n.recipe.spec) << n.name;
    EXPECT_EQ(info.role, n.role);
    EXPECT_GT(info.test_accuracy, 0.85) << n.name;  // what its recipe reached on the 10k test images
    ids.insert(n.id);
    for (const auto& other : specs) EXPECT_FALSE(other == n.recipe.spec) << n.name << " shares an architecture";
    specs.push_back(n.recipe.spec);
    const auto x = torch::rand({2, 1, 28, 28}) * 2 - 1;
    EXPECT_EQ(eval::fidnet_features(net, x).size(1), n.recipe.spec.feature_dim);
  }
  EXPECT_EQ(ids.size(), 3u);
  unsetenv("RFLOW_FIDNET");
  EXPECT_EQ(eval::default_fidnet_path(), eval::pinned_net_path("fidnet"));
  eval::FidNetInfo in_use;
  eval::cached_fidnet("", &in_use);
  EXPECT_EQ(in_use.id, eval::pinned_net("fidnet").id);
  EXPECT_THROW(eval::pinned_net("inception"), Error);
}

TEST(PinnedNets, AnAlteredOrMissingFileIsRefused) {
  test::TempDir dir;
  const std::string shipped = eval::pinned_net_path("judge");
  // One weight changed by one step of float rounding: another network, another fingerprint.
  eval::FidNetInfo info;
  eval::FidNet net = eval::load_fidnet(shipped, &info);
  {
    torch::NoGradGuard ng;
    auto w = net->named_parameters()["fc.weight"];
    w.view(-1)[7] = std::nextafter(w.view(-1)[7].item<float>(), 1.0f);
  }
  for (const auto& n : eval::pinned_nets())
    if (n.name != "judge") fs::copy_file(eval::pinned_net_path(n.name), dir.file(n.file));
  eval::save_fidnet(dir.file(eval::pinned_net("judge").file), net, info);
  setenv("RFLOW_MODELS_DIR", dir.path().c_str(), 1);
  try {
    eval::load_pinned_net("judge");
    ADD_FAILURE() << "an altered judge loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not the pinned 'judge'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("git checkout models/"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(eval::load_pinned_net("percept"));
  fs::remove(dir.file(eval::pinned_net("percept").file));
  try {
    eval::load_pinned_net("percept");
    ADD_FAILURE() << "a missing network loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("RFLOW_MODELS_DIR"), std::string::npos) << e.what();
  }
  unsetenv("RFLOW_MODELS_DIR");
  EXPECT_NO_THROW(eval::load_pinned_net("judge"));
}

TEST(PinnedNets, ThePerceptualDistanceIsNotTheEvaluators) {
  eval::add_fidnet_distance(feature_distances());
  unsetenv("RFLOW_FIDNET");
  auto percept = feature_distances().get("percept")({1, 28, 28});
  auto fid = feature_distances().get("fidnet")({1, 28, 28});
  torch::manual_seed(3);
  auto y = torch::rand({6, 1, 28, 28}) * 2 - 1;
  auto x = (y + 0.3 * torch::randn_like(y)).clamp(-1, 1).requires_grad_(true);
  EXPECT_LT(percept(y, y).abs().max().item<double>(), 1e-6);
  const auto dp = percept(x, y), df = fid(x, y);
  EXPECT_GT(dp.min().item<double>(), 0);
  // Not a rescaled copy: the two rank the six pairs differently or differ in size by far.
  EXPECT_GT((dp / dp.sum() - df / df.sum()).abs().max().item<double>(), 1e-3);
  dp.sum().backward();
  EXPECT_GT(x.grad().abs().sum().item<double>(), 0);
  EXPECT_THROW(feature_distances().get("percept")({3, 32, 32}), Error);
}
