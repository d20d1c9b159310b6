#include <gtest/gtest.h>

#include "rflow/core/error.h"
#include "rflow/pipeline/chain.h"

using namespace rflow;

TEST(Chain, ModelsAndTheirDirectoriesFollowTheConfig) {
  RunConfig cfg = load_run_config(std::string(RFLOW_SOURCE_DIR) + "/configs/reflow_8gaussians.toml", {});
  auto models = chain_models(cfg, "runs/x");
  ASSERT_EQ(models.size(), 6u);  // 1-, 2-, 3-RF and three students
  EXPECT_EQ(models[0].label, "1-RF");
  EXPECT_EQ(models[0].dir, "runs/x");
  EXPECT_EQ(models[2].dir, "runs/x/3rf");
  EXPECT_TRUE(models[3].student);
  EXPECT_EQ(models[3].dir, "runs/x/distill_1rf");
  EXPECT_EQ(models[5].label, "3-RF + distill (1 step)");
  EXPECT_EQ(pairs_dir("runs/x", 2), "runs/x/2rf/pairs");
  // A run of another method is labelled by it.
  RunConfig pf = load_run_config(std::string(RFLOW_SOURCE_DIR) + "/configs/perflow_8gaussians.toml", {});
  EXPECT_EQ(chain_models(pf, "runs/p").front().label, "PeRFlow");
}

TEST(Chain, FineTunesTrainOnTheTeachersPairsFromItsWeights) {
  RunConfig cfg = load_run_config(std::string(RFLOW_SOURCE_DIR) + "/configs/instaflow_8gaussians.toml", {});
  RunConfig r = reflow_run_config(cfg, "runs/x", 1);
  EXPECT_EQ(r.run_dir(), "runs/x/2rf");
  EXPECT_EQ(r.data.coupling, "pairs");
  EXPECT_EQ(r.data.pairs, "runs/x/pairs");
  EXPECT_EQ(r.train.init_from, "runs/x");
  EXPECT_EQ(r.train.steps, cfg.reflow.train.steps);
  EXPECT_EQ(r.method.name, "rectified_flow");
  EXPECT_TRUE(r.data.labels);
  // Guidance lives in the teacher's pairs; the models trained on them are evaluated at 1.
  EXPECT_EQ(cfg.eval.field.guidance, 1.5);
  EXPECT_EQ(r.eval.field.guidance, 1.0);
  EXPECT_NO_THROW(r.validate());
  RunConfig d = distill_run_config(cfg, "runs/x", 2);
  EXPECT_EQ(d.run_dir(), "runs/x/distill_2rf");
  EXPECT_EQ(d.data.pairs, "runs/x/2rf/pairs");
  EXPECT_EQ(d.train.init_from, "runs/x/2rf");
  EXPECT_EQ(d.method.name, "distill");
  EXPECT_EQ(d.train.steps, cfg.distill.train.steps);
  EXPECT_EQ(d.reflow.field.guidance, 1.0);
  // Online reflow: the teacher itself is the coupling.
  cfg.reflow.online = true;
  RunConfig o = reflow_run_config(cfg, "runs/x", 1);
  EXPECT_EQ(o.data.coupling, "online");
  EXPECT_EQ(o.data.teacher, "runs/x");
  EXPECT_EQ(o.reflow.field.guidance, 1.5);
}

TEST(Chain, ImpossibleChainsAreConfigErrors) {
  EXPECT_THROW(load_run_config("", {"distill.from=[2]"}), Error);  // no 2-RF without a reflow round
  EXPECT_NO_THROW(load_run_config("", {"distill.from=[2]", "reflow.rounds=1"}));
  EXPECT_THROW(load_run_config("", {"model.num_classes=8"}), Error);  // conditional model, unlabelled data
  EXPECT_THROW(load_run_config("", {"data.labels=true"}), Error);
  EXPECT_THROW(load_run_config("", {"stages=[\"train\", \"distil\"]"}), Error);
  EXPECT_THROW(load_run_config("", {"data.coupling=online"}), Error);  // needs data.teacher
  EXPECT_THROW(load_run_config("", {"method.distill.loss=lpips"}), Error);
}
