#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/rng.h"
#include "rflow/data/pair_shards.h"
#include "rflow/methods/method_config.h"
#include "rflow/data/online_pairs.h"
#include "rflow/methods/reflow.h"
#include "rflow/nn/mlp.h"
#include "rflow/nn/model_config.h"
#include "rflow/train/trainer.h"
#include "tests/test_util.h"

using namespace rflow;
namespace fs = std::filesystem;

namespace {
std::unique_ptr<Distribution> std_normal() { return make_distribution(DistributionConfig{"gaussian"}, {2}, "test"); }
// A curved teacher (rotation while translating), so pairs are not trivial.
FieldFn curved() {
  return [](const at::Tensor& x, const at::Tensor& t) {
    auto c = torch::cos(t).unsqueeze(1), s = torch::sin(t).unsqueeze(1);
    return torch::cat({-x.slice(1, 1, 2) * 0.5 + c, x.slice(1, 0, 1) * 0.5 + s}, 1);
  };
}
}  // namespace

TEST(ReflowPairs, ShardsRoundTripAndConcatenate) {
  test::TempDir dir;
  Pairs a{torch::randn({5, 3}), torch::randn({5, 3}), Cond{torch::arange(5, torch::kInt64)}};
  Pairs b{torch::randn({2, 3}), torch::randn({2, 3}), Cond{torch::arange(2, torch::kInt64)}};
  write_pair_shard(dir.path().string(), 0, a);
  write_pair_shard(dir.path().string(), 1, b);
  Pairs r = read_pair_shard(pair_shard_path(dir.path().string(), 0));
  EXPECT_TRUE(torch::equal(r.z0, a.z0) && torch::equal(r.z1, a.z1) && torch::equal(r.cond.labels, a.cond.labels));
  Pairs all = load_pairs(dir.path().string());
  EXPECT_EQ(all.z0.size(0), 7);
  EXPECT_TRUE(torch::equal(all.z1.slice(0, 5), b.z1));
  // A shard of another shape (data of several shapes): one set of pairs per shape, and a batch is
  // all of one, chosen in proportion to its pairs (7 : 2).
  write_pair_shard(dir.path().string(), 2, Pairs{torch::randn({2, 4}), torch::randn({2, 4}), Cond{torch::arange(2, torch::kInt64)}});
  try {
    load_pairs(dir.path().string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("2 sample shapes"), std::string::npos) << e.what();
  }
  std::vector<Pairs> buckets = load_pair_buckets(dir.path().string());
  ASSERT_EQ(buckets.size(), 2u);
  EXPECT_EQ(buckets[0].z0.size(0), 7);
  EXPECT_EQ(buckets[1].z0.size(0), 2);
  PairSource source(buckets);
  EXPECT_EQ(source.sample_shapes(), (std::vector<std::vector<int64_t>>{{3}, {4}}));
  EXPECT_EQ(source.size(), 9);
  torch::manual_seed(1);
  int wide = 0;
  for (int i = 0; i < 900; ++i) {
    const Batch batch = source.next(5, torch::kCPU);
    ASSERT_EQ(batch.x0.size(1), batch.x1.size(1));
    if (batch.x0.size(1) == 4) {
      ++wide;
      // Rows of the shape's own pairs, with their own conditioning.
      EXPECT_TRUE((batch.cond.labels < 2).all().item<bool>());
    }
  }
  EXPECT_NEAR(wide, 200, 40);  // 900 · 2/9, sd ≈ 12.5
  // Labels 0–4 make five classes; a model that is not class-conditional trains without them.
  EXPECT_EQ(source.num_classes(), 5);
  source.drop_labels();
  EXPECT_EQ(source.num_classes(), 0);
  EXPECT_FALSE(source.next(2, torch::kCPU).cond.labels.defined());
  // A shard of another dtype or rank is refused, naming the file.
  write_pair_shard(dir.path().string(), 3, Pairs{torch::randn({2, 1, 4}), torch::randn({2, 1, 4}), Cond{torch::arange(2, torch::kInt64)}});
  try {
    load_pair_buckets(dir.path().string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("shard_00003"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_pairs(dir.file("empty")), Error);
}

TEST(ReflowPairs, ResumeAfterAKillReproducesTheUninterruptedRun) {
  test::TempDir dir;
  ReflowConfig cfg;
  cfg.pairs = 1000;
  cfg.shard_size = 300;  // 4 shards, the last one short
  auto src = std_normal();
  auto full = generate_pairs(curved(), *src, cfg, dir.file("a"), 42, torch::kCPU);
  EXPECT_EQ(full.shards_written, 4);
  EXPECT_EQ(full.pairs, 1000);
  generate_pairs(curved(), *src, cfg, dir.file("b"), 42, torch::kCPU);
  // A kill during shard 2 leaves shards 0 and 1 (shards are written atomically) and no manifest.
  fs::remove(pair_shard_path(dir.file("b"), 2));
  fs::remove(pair_shard_path(dir.file("b"), 3));
  fs::remove(dir.file("b") + "/manifest.json");
  auto resumed = generate_pairs(curved(), *src, cfg, dir.file("b"), 42, torch::kCPU);
  EXPECT_EQ(resumed.shards_skipped, 2);
  EXPECT_EQ(resumed.shards_written, 2);
  Pairs pa = load_pairs(dir.file("a")), pb = load_pairs(dir.file("b"));
  EXPECT_EQ(pa.z0.size(0), 1000);
  EXPECT_TRUE(torch::equal(pa.z0, pb.z0));
  EXPECT_TRUE(torch::equal(pa.z1, pb.z1));
  EXPECT_TRUE(fs::exists(dir.file("b") + "/manifest.json"));
  // Pairs are the teacher's map: re-solving the stored noise gives the stored endpoints.
  SolveOptions o;
  o.method = "rk4";
  o.steps = 25;
  EXPECT_TRUE(torch::allclose(solve(curved(), pa.z0.slice(0, 0, 10), o).x, pa.z1.slice(0, 0, 10), 1e-6, 1e-6));
}

TEST(Reflow, OnAStraightFieldLeavesItUnchanged) {
  test::TempDir dir;
  seed_all(3);
  // Teacher: constant velocity c, already straight: its pairs are (z0, z0 + c) ...
  auto c = torch::tensor({{1.5f, -0.5f}});
  FieldFn straight = [&](const at::Tensor& x, const at::Tensor&) { return c.expand_as(x); };
  ReflowConfig cfg;
  cfg.pairs = 4096;
  cfg.shard_size = 4096;
  auto src = std_normal();
  generate_pairs(straight, *src, cfg, dir.file("pairs"), 1, torch::kCPU);
  Pairs p = load_pairs(dir.file("pairs"));
  EXPECT_LT((p.z1 - p.z0 - c).abs().max().item<double>(), 1e-5);
  // ... and the 2-RF trained on them is the same field.
  PairSource pairs(p);
  ModelConfig mc;
  mc.get<MlpOptions>("mlp").hidden = 64;
  mc.get<MlpOptions>("mlp").depth = 2;
  auto model = make_model(mc, {2});
  auto method = make_method(MethodConfig{});
  TrainConfig tc;
  tc.steps = 600;
  tc.batch_size = 256;
  tc.lr = 3e-3;
  tc.ckpt_every = 0;
  Trainer(tc, model, *method, pairs, dir.file("run"), "{}", torch::kCPU).run();
  torch::NoGradGuard ng;
  // Test points from the pairs' own interpolation marginal, where the 2-RF was trained.
  auto t = torch::rand({1000});
  auto x = torch::randn({1000, 2}) + t.unsqueeze(1) * c;
  auto err = (model->forward(x, t) - c).pow(2).sum(1).mean().sqrt().item<double>();
  EXPECT_LT(err, 0.05 * c.norm().item<double>()) << "rms error " << err;
}

TEST(ReflowPairs, ConditionalTeacherGetsEachShardsLabelsAndStoresThem) {
  test::TempDir dir;
  auto src = std_normal();
  DistributionConfig dc{"8gaussians"};
  auto target = make_distribution(dc, {}, "test");
  // Teacher velocity = its label in both coordinates, so z1 = z0 + label after any solve.
  TeacherFn teacher = [](const Cond& cond) {
    const at::Tensor labels = cond.labels;
    EXPECT_TRUE(labels.defined());
    return FieldFn::with_rows([labels](const at::Tensor& x, const at::Tensor&, const at::Tensor& rows) {
      auto l = rows.defined() ? labels.index_select(0, rows) : labels;
      return l.to(x.scalar_type()).unsqueeze(1).expand_as(x);
    });
  };
  ReflowConfig cfg;
  cfg.pairs = 700;
  cfg.shard_size = 300;
  cfg.solve.method = "euler";
  cfg.solve.steps = 3;
  generate_pairs(teacher, *src, conditions_from(*target, /*labels=*/true), cfg, dir.file("p"), 9, torch::kCPU);
  Pairs p = load_pairs(dir.file("p"));
  const at::Tensor labels = p.cond.labels;
  ASSERT_TRUE(labels.defined());
  EXPECT_EQ(labels.size(0), 700);
  EXPECT_GE(labels.min().item<int64_t>(), 0);
  EXPECT_LE(labels.max().item<int64_t>(), 7);
  EXPECT_TRUE(torch::allclose(p.z1 - p.z0, labels.to(torch::kFloat32).unsqueeze(1).expand({700, 2}), 1e-5, 1e-5));
}

TEST(ReflowPairs, AnyConditioningIsSolvedWithAndStoredBesideThePairs) {
  // A context and an observation (not labels): the teacher's velocity is the observation, and the
  // shards give back exactly what each pair was solved with.
  test::TempDir dir;
  auto src = std_normal();
  CondSampler cond_from = [](int64_t n, const std::vector<int64_t>&) {
    Cond c;
    c.context = torch::randn({n, 3, 4});
    c.mask = torch::ones({n, 3});
    c.extra["obs"] = torch::randn({n, 2});
    return c;
  };
  TeacherFn teacher = [](const Cond& cond) {
    return FieldFn::with_rows([cond](const at::Tensor& x, const at::Tensor&, const at::Tensor& rows) {
      return (rows.defined() ? cond.select(rows) : cond).extra.at("obs").to(x.scalar_type());
    });
  };
  ReflowConfig cfg;
  cfg.pairs = 250;
  cfg.shard_size = 100;
  cfg.solve.method = "euler";
  cfg.solve.steps = 2;
  generate_pairs(teacher, *src, cond_from, cfg, dir.file("p"), 3, torch::kCPU);
  Pairs p = load_pairs(dir.file("p"));
  ASSERT_TRUE(p.cond.context.defined() && p.cond.mask.defined() && p.cond.extra.count("obs"));
  EXPECT_FALSE(p.cond.labels.defined());
  EXPECT_EQ(p.cond.context.sizes(), (std::vector<int64_t>{250, 3, 4}));
  EXPECT_TRUE(torch::allclose(p.z1 - p.z0, p.cond.extra.at("obs"), 1e-5, 1e-5));
  // Training batches keep each pair's conditioning on its row.
  PairSource source(p);
  Batch b = source.next(64, torch::kCPU);
  EXPECT_TRUE(torch::allclose(b.x1 - b.x0, b.cond.extra.at("obs"), 1e-5, 1e-5));
  EXPECT_EQ(b.cond.context.size(0), 64);

  // Solving a shard in pieces (reflow.batch, bounding memory) gives the same pairs, each row with
  // its own conditioning.
  cfg.batch = 37;
  generate_pairs(teacher, *src, cond_from, cfg, dir.file("q"), 3, torch::kCPU);
  Pairs q = load_pairs(dir.file("q"));
  EXPECT_TRUE(torch::equal(q.z0, p.z0));
  EXPECT_TRUE(torch::equal(q.z1, p.z1));
  EXPECT_TRUE(torch::equal(q.cond.extra.at("obs"), p.cond.extra.at("obs")));
}

TEST(ReflowPairs, BatchedSolvesEqualWholeShardSolves) {
  test::TempDir dir;
  auto src = std_normal();
  ReflowConfig cfg;
  cfg.pairs = 500;
  cfg.shard_size = 250;
  cfg.batch = 250;
  generate_pairs(curved(), *src, cfg, dir.file("whole"), 5, torch::kCPU);
  cfg.batch = 64;  // 4 pieces per shard, the last one short
  generate_pairs(curved(), *src, cfg, dir.file("pieces"), 5, torch::kCPU);
  Pairs a = load_pairs(dir.file("whole")), b = load_pairs(dir.file("pieces"));
  EXPECT_TRUE(torch::equal(a.z0, b.z0));
  EXPECT_TRUE(torch::equal(a.z1, b.z1));
  cfg.batch = 0;
  EXPECT_THROW(generate_pairs(curved(), *src, cfg, dir.file("bad"), 5, torch::kCPU), Error);
}

TEST(ReflowPairs, PairsOfAnotherTeacherAreDiscardedNotMixed) {
  test::TempDir dir;
  ReflowConfig cfg;
  cfg.pairs = 600;
  cfg.shard_size = 200;
  auto src = std_normal();
  auto a = generate_pairs(curved(), *src, cfg, dir.file("p"), 1, torch::kCPU, {{"step", "100"}});
  EXPECT_EQ(a.shards_written, 3);
  // Same teacher, same settings: nothing to do.
  auto again = generate_pairs(curved(), *src, cfg, dir.file("p"), 1, torch::kCPU, {{"step", "100"}});
  EXPECT_EQ(again.shards_skipped, 3);
  // A retrained teacher (another step) makes every shard again.
  FieldFn other = [](const at::Tensor& x, const at::Tensor&) { return torch::ones_like(x); };
  auto b = generate_pairs(other, *src, cfg, dir.file("p"), 1, torch::kCPU, {{"step", "200"}});
  EXPECT_EQ(b.shards_written, 3);
  Pairs p = load_pairs(dir.file("p"));
  EXPECT_TRUE(torch::allclose(p.z1 - p.z0, torch::ones_like(p.z0), 1e-5, 1e-5));
  // So do other solver settings.
  cfg.solve.steps = 10;
  EXPECT_EQ(generate_pairs(other, *src, cfg, dir.file("p"), 1, torch::kCPU, {{"step", "200"}}).shards_written, 3);
}

namespace {
class ShiftFieldImpl : public VelocityFieldImpl {
 public:
  ShiftFieldImpl() : w_(register_parameter("w", torch::ones({1}))) {}
  at::Tensor forward(const at::Tensor& x, const at::Tensor&, const Cond& c) override {
    // Conditional: velocity = label + 1 (label −1, the unconditional class, gives 0).
    if (c.labels.defined()) return (c.labels.to(x.scalar_type()) + 1).unsqueeze(1).expand_as(x) * w_;
    return x * 0 + w_;
  }
  std::vector<int64_t> sample_shape() const override { return {2}; }
  at::Tensor w_;
};
}  // namespace

TEST(OnlineReflow, BatchesAreTheFrozenTeachersFewStepMap) {
  seed_all(6);
  DataConfig dc;
  dc.target.name = "moons";
  dc.labels = true;
  auto teacher = std::make_shared<ShiftFieldImpl>();
  OnlinePairSource src(teacher, make_coupling(dc), 5, 2.0);
  EXPECT_FALSE(teacher->w_.requires_grad());  // the teacher is frozen
  Batch b = src.next(128, torch::kCPU);
  ASSERT_TRUE(b.cond.labels.defined());
  EXPECT_FALSE(b.x1.requires_grad());
  // CFG with w = 2: v = v_u + 2 (v_c − v_u) = 2 (label + 1); constant, so Euler is exact.
  auto want = b.x0 + 2 * (b.cond.labels.to(torch::kFloat32) + 1).unsqueeze(1).expand_as(b.x0);
  EXPECT_TRUE(torch::allclose(b.x1, want, 1e-5, 1e-5));
  // Unlabelled data: the plain field.
  dc.labels = false;
  OnlinePairSource plain(teacher, make_coupling(dc), 3, 2.0);
  Batch u = plain.next(16, torch::kCPU);
  EXPECT_FALSE(u.cond.labels.defined());
  EXPECT_TRUE(torch::allclose(u.x1, u.x0 + 1, 1e-5, 1e-5));
}
