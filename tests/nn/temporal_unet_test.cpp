// The temporal U-Net over action chunks: any chunk length (odd ones skip halving), an untrained
// policy predicts zero, filters shared along the chunk (its size does not depend on the horizon),
// observations and labels condition it, every weight learns, and its variance head is AdaFlow's.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/nn/model_config.h"
#include "rflow/nn/temporal_unet.h"

using namespace rflow;

namespace {
ModelConfig small(std::vector<int64_t> mult = {1, 2}, int64_t obs_dim = 0, int64_t variance_hidden = 0) {
  ModelConfig mc;
  mc.arch = "temporal_unet";
  auto& o = mc.get<TemporalUNetOptions>("temporal_unet");
  o.channels = 8, o.norm_groups = 4, o.channel_mult = std::move(mult);
  o.obs_dim = obs_dim, o.variance_hidden = variance_hidden;
  return mc;
}
void perturb(VelocityFieldImpl& m) {  // away from the zero-initialised output
  torch::NoGradGuard ng;
  for (auto& p : m.parameters()) p.add_(torch::randn_like(p) * 0.1);
}
int64_t flow_parameters(const VelocityFieldImpl& m) {
  int64_t n = 0;
  for (const auto& p : m.named_parameters())
    if (p.key().rfind("var_", 0) != 0) n += p.value().numel();
  return n;
}
}  // namespace

TEST(TemporalUNet, AnyChunkLengthKeepsItsShapeAndAnUntrainedPolicyPredictsZero) {
  torch::manual_seed(0);
  for (const auto& [shape, mult] : std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>{
           {{4, 2}, {1, 2}}, {{5, 3}, {1, 2}}, {{16, 2}, {1, 2, 2}}, {{6, 1}, {1, 2, 2, 2}}, {{3}, {1, 2}}}) {
    auto m = make_model(small(mult), shape);
    std::vector<int64_t> batch{3};
    batch.insert(batch.end(), shape.begin(), shape.end());
    const auto x = torch::randn(batch);
    const auto v = m->forward(x, torch::rand({3}));
    EXPECT_EQ(v.sizes(), x.sizes()) << c10::str(shape);
    EXPECT_EQ(v.abs().max().item<float>(), 0.0f) << c10::str(shape);
    perturb(*m);
    const auto w = m->forward(x, torch::rand({3}));
    EXPECT_EQ(w.sizes(), x.sizes());
    EXPECT_GT(w.abs().max().item<float>(), 0.0f);
  }
  EXPECT_THROW(make_model(small(), {1, 8, 8}), Error);  // an image, not a chunk
  EXPECT_THROW(make_model(small(), {4, 2})->forward(torch::randn({2, 5, 2}), torch::rand({2})), Error);
  ModelConfig bad = small();
  bad.get<TemporalUNetOptions>("temporal_unet").kernel = 4;
  EXPECT_THROW(bad.validate(), Error);
  bad = small();
  bad.get<TemporalUNetOptions>("temporal_unet").channels = 6;  // 4 groups do not divide 6
  EXPECT_THROW(bad.validate(), Error);
}

TEST(TemporalUNet, FiltersAreSharedAlongTheChunk) {
  // An MLP's first and last layers grow with the horizon; a convolution's do not.
  const auto short_chunk = make_model(small(), {4, 2});
  const auto long_chunk = make_model(small(), {32, 2});
  EXPECT_EQ(flow_parameters(*short_chunk), flow_parameters(*long_chunk));
  ModelConfig mlp;
  EXPECT_LT(flow_parameters(*make_model(mlp, {4, 2})), flow_parameters(*make_model(mlp, {32, 2})));
}

TEST(TemporalUNet, ObservationsAndLabelsConditionItAndEveryWeightLearns) {
  torch::manual_seed(1);
  ModelConfig mc = small({1, 2}, /*obs_dim=*/3, /*variance_hidden=*/16);
  mc.num_classes = 2;
  auto m = make_model(mc, {4, 2});
  perturb(*m);
  const auto x = torch::randn({2, 4, 2});
  const auto t = torch::rand({2});
  Cond a, b;
  a.extra["obs"] = torch::randn({2, 3});
  b.extra["obs"] = a.extra["obs"] + 0.5;
  a.labels = b.labels = torch::tensor({0, -1}, torch::kInt64);
  const auto va = m->forward(x, t, a);
  EXPECT_GT((va - m->forward(x, t, b)).abs().max().item<float>(), 1e-4);
  Cond relabeled = a;
  relabeled.labels = torch::tensor({1, 0}, torch::kInt64);
  const auto vl = m->forward(x, t, relabeled);
  EXPECT_GT((va[0] - vl[0]).abs().max().item<float>(), 1e-4);
  EXPECT_GT((va[1] - vl[1]).abs().max().item<float>(), 1e-4);  // −1 (no label) is its own row
  EXPECT_GT((va - m->forward(x, t.flip(0), a)).abs().max().item<float>(), 1e-4);
  try {
    m->forward(x, t, Cond{});
    ADD_FAILURE() << "no observations accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.temporal_unet.obs_dim"), std::string::npos) << e.what();
  }
  // The variance head: σ > 0 per sample, under the names every policy backbone uses.
  const auto sigma = m->variance(x, t, a);
  ASSERT_TRUE(sigma.defined());
  EXPECT_EQ(sigma.sizes(), (std::vector<int64_t>{2}));
  EXPECT_TRUE((sigma > 0).all().item<bool>());
  // It is an estimate at this (x, t, obs): it moves with the noisy actions and with the time.
  EXPECT_GT((m->variance(x * 2 + 1, t, a) - sigma).abs().max().item<float>(), 1e-6f);
  EXPECT_GT((m->variance(x, t.flip(0), a) - sigma).abs().max().item<float>(), 1e-6f);
  EXPECT_TRUE(m->named_parameters().contains("var_in_o.weight"));
  EXPECT_FALSE(make_model(small(), {4, 2})->variance(x, t, Cond{}).defined());
  // Gradients of the flow loss and the head's output reach every parameter.
  (m->forward(x, t, a).pow(2).mean() + sigma.log().mean()).backward();
  for (const auto& p : m->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
}
