// Cond moves every member row by row (select, slice, cat, to), round-trips through its storage
// names, checks that members agree in rows, and has a null value exactly where guidance needs one.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/flow/cond.h"

using namespace rflow;

namespace {
Cond full(int64_t b) {
  Cond c;
  c.labels = torch::arange(b, torch::kInt64);
  c.context = torch::arange(b * 3 * 2, torch::kFloat32).view({b, 3, 2});
  c.mask = torch::ones({b, 3});
  c.extra["obs"] = torch::arange(b, torch::kFloat32).unsqueeze(1) * 10;
  return c;
}
}  // namespace

TEST(Cond, RowsMoveTogether) {
  Cond c = full(5);
  EXPECT_EQ(c.batch_size(), 5);
  Cond s = c.select(torch::tensor({4, 1}, torch::kInt64));
  EXPECT_TRUE(torch::equal(s.labels, torch::tensor({4, 1}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(s.context[0], c.context[4]));
  EXPECT_TRUE(torch::equal(s.extra.at("obs").squeeze(1), torch::tensor({40.0f, 10.0f})));
  Cond sl = c.slice(1, 3);
  EXPECT_EQ(sl.batch_size(), 2);
  EXPECT_TRUE(torch::equal(sl.mask, c.mask.slice(0, 1, 3)));
  Cond back = Cond::cat({c.slice(0, 2), c.slice(2, 5)});
  for (const auto& [name, t] : c.named()) {
    bool found = false;
    for (const auto& [n2, t2] : back.named()) {
      if (n2 != name) continue;
      found = true;
      EXPECT_TRUE(torch::equal(t, t2)) << name;
    }
    EXPECT_TRUE(found) << name;
  }
  EXPECT_TRUE(Cond{}.empty());
  EXPECT_EQ(Cond{}.batch_size(), -1);
}

TEST(Cond, StorageNamesRoundTrip) {
  Cond c = full(3);
  std::map<std::string, at::Tensor> stored;
  for (const auto& [name, t] : c.named()) stored[name] = t;
  stored["z0"] = torch::zeros({3, 2});  // other tensors of the file are ignored
  EXPECT_EQ(stored.count("extra.obs"), 1u);
  Cond r = Cond::from_named(stored);
  EXPECT_TRUE(torch::equal(r.labels, c.labels) && torch::equal(r.context, c.context) && torch::equal(r.mask, c.mask));
  EXPECT_TRUE(torch::equal(r.extra.at("obs"), c.extra.at("obs")));
  EXPECT_EQ(r.extra.size(), 1u);
}

TEST(Cond, MismatchedRowsAndMembersAreErrors) {
  Cond c = full(4);
  c.extra["obs"] = torch::zeros({3, 1});
  EXPECT_THROW(c.batch_size(), Error);
  Cond a = full(2), b;
  b.labels = torch::zeros({2}, torch::kInt64);
  EXPECT_THROW(Cond::cat({a, b}), Error);  // b lacks the context a has
  EXPECT_THROW(full(2).check_batch(3, "test"), Error);
  // An extra that only a later part carries is an error, not silently dropped.
  Cond x = full(2), y = full(2);
  y.extra["goal"] = torch::zeros({2, 1});
  EXPECT_THROW(Cond::cat({x, y}), Error);
}

TEST(Cond, NullValueForGuidance) {
  Cond c = full(2);
  ASSERT_TRUE(c.nullable());
  Cond n = c.null_like();
  EXPECT_TRUE(torch::equal(n.labels, torch::full({2}, -1, torch::kInt64)));
  EXPECT_EQ(n.context.abs().sum().item<double>(), 0.0);
  EXPECT_EQ(n.mask.sum().item<double>(), 0.0);
  // Observations have no null: guidance is over labels / context given the observation.
  EXPECT_TRUE(torch::equal(n.extra.at("obs"), c.extra.at("obs")));
  Cond obs_only;
  obs_only.extra["obs"] = torch::zeros({2, 3});
  EXPECT_FALSE(obs_only.nullable());
  EXPECT_THROW(obs_only.null_like(), Error);
  // A context without a mask nulls to a zero context, and guidance's [cond; null] batch joins.
  Cond ctx;
  ctx.context = torch::randn({2, 3, 4});
  Cond cn = ctx.null_like();
  EXPECT_FALSE(cn.mask.defined());
  EXPECT_EQ(Cond::cat({ctx, cn}).batch_size(), 4);
}
