// The pipeline driver's bookkeeping: which stages run again after a change, and which models start
// over when what they were made from (their teacher, its pairs) changed.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/data/pair_shards.h"
#include "rflow/core/error.h"
#include "rflow/io/directory_lock.h"
#include "rflow/io/safetensors.h"
#include "rflow/pipeline/chain.h"
#include "rflow/nn/mlp.h"
#include "rflow/pipeline/pipeline.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/pipeline/stage_keys.h"
#include "rflow/pipeline/stages.h"
#include "rflow/train/checkpoint.h"
#include "tests/test_util.h"
#include "rflow/io/remove_tree.h"

using namespace rflow;
namespace fs = std::filesystem;

namespace {

// A two-layer MLP trained for 60 steps, 256 teacher pairs, a 40-step 2-RF: the bookkeeping is
// the same at any size.
RunConfig tiny(const fs::path& out, const std::string& name, std::vector<std::string> extra = {}) {
  std::vector<std::string> o = {"out_dir=" + out.string(), "name=" + name, "threads=1", "model.mlp.hidden=32",
                                "model.mlp.depth=2", "train.steps=60", "train.warmup=10", "train.batch_size=64",
                                "train.ckpt_every=0", "reflow.pairs=256", "reflow.shard_size=128",
                                "reflow.train.steps=40", "reflow.train.warmup=5", "reflow.train.batch_size=64",
                                "reflow.train.ckpt_every=0", "stages=[\"train\", \"reflow\"]"};
  o.insert(o.end(), extra.begin(), extra.end());
  return load_run_config(std::string(RFLOW_SOURCE_DIR) + "/configs/demo_2d.toml", o);
}

io::NamedTensors weights(const std::string& run) {
  return io::load_safetensors((fs::path(resolve_checkpoint(run)) / "model.safetensors").string()).tensors;
}

bool same(const io::NamedTensors& a, const io::NamedTensors& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first || !torch::equal(a[i].second, b[i].second)) return false;
  return true;
}

// Stands in for a teacher retrained to the same step with other results (another machine, other
// threads): its weight files change, its step and checkpoint name do not.
void retrain_in_place(const std::string& run) {
  const fs::path ckpt = resolve_checkpoint(run);
  for (const char* f : {"model.safetensors", "ema.safetensors"}) {
    auto st = io::load_safetensors((ckpt / f).string());
    for (auto& [name, t] : st.tensors) t = t + 0.05;
    io::save_safetensors((ckpt / f).string(), st.tensors, st.metadata);
  }
}

}  // namespace

// A stage that runs again (here train, its marker gone) makes every later stage of the run's list
// stale, also for a later invocation; the reflow stage then regenerates pairs from the teacher's
// new weights, and the 2-RF made from them starts over from step 0 instead of resuming.
TEST(Pipeline, ARerunStageMakesLaterOnesRunAgainAndItsTwoRfStartsOver) {
  test::TempDir dir;
  RunConfig cfg = tiny(dir.path(), "chain", {"reflow.rounds=1"});
  const std::string run = run_pipeline(cfg);
  const fs::path markers = fs::path(run) / "stages";
  ASSERT_TRUE(fs::exists(markers / "reflow.done"));
  const auto rf2_before = weights(run + "/2rf");
  const auto shard_before = io::load_safetensors(list_pair_shards(run + "/pairs").front()).tensors;

  retrain_in_place(run);
  fs::remove(markers / "train.done");
  run_pipeline(cfg, {false, {"train"}});
  EXPECT_TRUE(fs::exists(markers / "train.done"));
  EXPECT_FALSE(fs::exists(markers / "reflow.done")) << "reflow's result was made from the old teacher";

  run_pipeline(cfg);
  ASSERT_TRUE(fs::exists(markers / "reflow.done"));
  const auto shard_after = io::load_safetensors(list_pair_shards(run + "/pairs").front()).tensors;
  EXPECT_FALSE(same(shard_before, shard_after)) << "pairs of the old teacher were kept";
  EXPECT_FALSE(same(rf2_before, weights(run + "/2rf"))) << "the 2-RF of the old teacher was kept";
  // Exactly the 2-RF that a new run makes from the retrained teacher and its new pairs.
  RunConfig check = reflow_run_config(cfg, run, 1);
  const std::string check_dir = (dir.path() / "check").string();
  train_run(check, check_dir, torch::kCPU);
  EXPECT_TRUE(same(weights(run + "/2rf"), weights(check_dir))) << "the 2-RF resumed instead of starting over";
  const auto rec = nlohmann::json::parse(test::read_text(run + "/2rf/inputs.json"));
  EXPECT_EQ(rec["init_from"]["weights"], checkpoint_fingerprint(resolve_checkpoint(run)));
}

// A student in its own run directory, made from a teacher run (its weights and its pairs): a
// rerun keeps it while the teacher is unchanged, and trains it again from the start once the
// teacher is retrained to the same step, ending exactly where a new student of that teacher ends.
TEST(Pipeline, AStudentRunStartsOverWhenItsTeacherRunIsRetrainedToTheSameStep) {
  test::TempDir dir;
  const std::string teacher = run_pipeline(tiny(dir.path(), "teacher", {"seed=1"}));
  const std::vector<std::string> from_teacher = {"stages=[\"train\"]", "train.steps=40", "train.init_from=" + teacher,
                                                 "data.coupling=pairs", "data.pairs=" + teacher + "/pairs"};
  const RunConfig student_cfg = tiny(dir.path(), "student", from_teacher);
  const std::string student = run_pipeline(student_cfg);
  const auto first = weights(student);
  const std::string metrics = test::read_text(student + "/metrics.jsonl");
  run_pipeline(student_cfg);
  EXPECT_EQ(test::read_text(student + "/metrics.jsonl"), metrics) << "an unchanged teacher retrained its student";

  run_pipeline(tiny(dir.path(), "teacher", {"seed=2"}), {true, {}});  // same steps, other weights
  run_pipeline(student_cfg);
  const auto second = weights(student);
  EXPECT_FALSE(same(first, second)) << "the student of the old teacher was kept";
  const std::string fresh = run_pipeline(tiny(dir.path(), "fresh_student", from_teacher));
  EXPECT_TRUE(same(second, weights(fresh))) << "the student resumed instead of starting over";
}

// The stored input a coupling trains from is part of what the train stage's result depends on:
// a student on its teacher's pairs, or on the teacher itself online (no init_from to give it
// away), starts over once that teacher is retrained to the same step.
TEST(Pipeline, AStudentOnItsTeachersPairsOrOnlineStartsOverWhenTheTeacherIsRetrained) {
  for (const char* coupling : {"online", "pairs"}) {
    test::TempDir dir;
    const std::string teacher = run_pipeline(tiny(dir.path(), "teacher", {"seed=1"}));
    const std::vector<std::string> keys = {
        "stages=[\"train\"]", "train.steps=30", std::string("data.coupling=") + coupling,
        std::string(coupling) == "online" ? "data.teacher=" + teacher : "data.pairs=" + teacher + "/pairs"};
    const RunConfig student_cfg = tiny(dir.path(), "student", keys);
    const std::string student = run_pipeline(student_cfg);
    const auto first = weights(student);
    const auto rec = nlohmann::json::parse(test::read_text(student + "/inputs.json"));
    EXPECT_TRUE(rec.contains(std::string(coupling) == "online" ? "data.teacher" : "data.pairs")) << rec.dump();
    run_pipeline(tiny(dir.path(), "teacher", {"seed=2"}), {true, {}});  // same steps, other weights
    run_pipeline(student_cfg);
    const auto second = weights(student);
    EXPECT_FALSE(same(first, second)) << coupling << ": the student of the old teacher was kept";
    const std::string fresh = run_pipeline(tiny(dir.path(), "fresh_student", keys));
    EXPECT_TRUE(same(second, weights(fresh))) << coupling << ": the student resumed instead of starting over";
  }
}

// While one process runs a run directory, a second `rflow run` on it — or `--fresh`, which would
// delete the first one's files under it — is refused before it touches anything.
TEST(Pipeline, ARunDirectoryInUseIsRefusedAndFreshDeletesNothing) {
  test::TempDir dir;
  RunConfig cfg = tiny(dir.path(), "busy", {"stages=[\"train\"]"});
  const std::string run = run_pipeline(cfg);
  const std::string before = test::read_text(run + "/metrics.jsonl");
  io::DirectoryLock held(run, "rflow run (another process)");
  for (bool fresh : {false, true}) {
    try {
      run_pipeline(cfg, {fresh, {}});
      ADD_FAILURE() << "ran beside another holder (fresh = " << fresh << ")";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("in use by process"), std::string::npos) << e.what();
    }
    EXPECT_EQ(test::read_text(run + "/metrics.jsonl"), before);
    EXPECT_TRUE(fs::exists(run + "/stages/train.done"));
  }
}

// Adding stages to a trained run: keys that no finished stage read may change; a key that a
// finished model read is refused by name; once the new stage has run, its own keys are fixed too.
TEST(Pipeline, OnlyKeysThatAFinishedStageReadAreHeldFixed) {
  test::TempDir dir;
  const std::string run = run_pipeline(tiny(dir.path(), "grow", {"stages=[\"train\"]"}));
  const fs::path markers = fs::path(run) / "stages";
  // The reflow and distill settings were never read: changing them while adding the stage is fine.
  run_pipeline(tiny(dir.path(), "grow", {"reflow.pairs=384", "method.distill.steps=2", "distill.train.steps=7"}));
  ASSERT_TRUE(fs::exists(markers / "reflow.done"));
  EXPECT_EQ(load_pairs(run + "/pairs").z0.size(0), 384);
  // Now the reflow stage has read them, and the train stage always read the learning rate.
  auto message = [&](std::vector<std::string> extra) {
    try {
      run_pipeline(tiny(dir.path(), "grow", extra));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  std::string msg = message({"reflow.pairs=256"});
  EXPECT_NE(msg.find("reflow.pairs (384 → 256), read by the reflow stage"), std::string::npos) << msg;
  msg = message({"reflow.pairs=384", "train.lr=0.5"});
  EXPECT_NE(msg.find("train.lr"), std::string::npos) << msg;
  EXPECT_NE(msg.find("read by the train stage"), std::string::npos) << msg;
  EXPECT_NE(msg.find("read by the reflow stage"), std::string::npos) << msg;  // the 2-RF was made from it too
  // Options of a backbone the run does not use are read by nobody.
  EXPECT_NO_THROW(run_pipeline(tiny(dir.path(), "grow", {"reflow.pairs=384", "model.unet.channels=8"})));
  // Nor is bookkeeping that changes no weight.
  EXPECT_NO_THROW(run_pipeline(tiny(dir.path(), "grow", {"reflow.pairs=384", "train.keep_checkpoints=9",
                                                         "reflow.train.log_every=7", "distill.train.keep_checkpoints=3"})));
}

// A model half made (killed mid-training) is judged like a finished one: the keys its
// checkpoints were trained with cannot change under it.
TEST(Pipeline, AHalfMadeModelHoldsItsKeysFixed) {
  test::TempDir dir;
  const std::string run = run_pipeline(tiny(dir.path(), "half", {"stages=[\"train\"]"}));
  const fs::path markers = fs::path(run) / "stages";
  // What a kill leaves: the stage's start record, no done marker.
  fs::rename(markers / "train.done", markers / "train.started");
  EXPECT_THROW(run_pipeline(tiny(dir.path(), "half", {"stages=[\"train\"]", "train.batch_size=32"})), Error);
  run_pipeline(tiny(dir.path(), "half", {"stages=[\"train\"]"}));
  EXPECT_TRUE(fs::exists(markers / "train.done"));
  EXPECT_FALSE(fs::exists(markers / "train.started"));
}

TEST(StageKeys, TheLongestMatchingPrefixDecides) {
  const std::vector<std::string> reads{"method", "!method.distill", "method.distill.steps", "seed"};
  EXPECT_TRUE(reads_key(reads, "method.name"));
  EXPECT_FALSE(reads_key(reads, "method.distill.loss"));
  EXPECT_TRUE(reads_key(reads, "method.distill.steps"));
  EXPECT_TRUE(reads_key(reads, "seed"));
  EXPECT_FALSE(reads_key(reads, "seeds"));  // a prefix is a whole section name
  EXPECT_FALSE(reads_key(reads, "train.lr"));
  RunConfig cfg;  // an MLP on 8 gaussians with rectified flow
  const auto keys = model_keys(cfg);
  EXPECT_TRUE(reads_key(keys, "model.mlp.hidden"));
  EXPECT_FALSE(reads_key(keys, "model.unet.channels"));
  EXPECT_TRUE(reads_key(keys, "method.name"));
  EXPECT_FALSE(reads_key(keys, "method.distill.steps"));
  EXPECT_TRUE(reads_key(keys, "train.lr"));
  EXPECT_TRUE(reads_key(keys, "train.ckpt_every"));
  EXPECT_FALSE(reads_key(keys, "train.keep_checkpoints"));
  EXPECT_FALSE(reads_key(keys, "train.log_every"));
  auto reflow_keys = keys;
  reflow_keys.push_back("reflow");
  EXPECT_FALSE(reads_key(reflow_keys, "reflow.train.keep_checkpoints"));
  EXPECT_TRUE(reads_key(reflow_keys, "reflow.train.lr"));
  EXPECT_FALSE(reads_key(keys, "eval.n"));
  EXPECT_FALSE(reads_key(keys, "threads"));
}

// A weight file copied out of its run still rebuilds its field: the header carries the config,
// the sample shape, the step and the rflow version, and the field equals the run's own.
TEST(RunContext, AWeightFileAloneRebuildsItsField) {
  test::TempDir dir;
  const std::string run = run_pipeline(tiny(dir.path(), "alone", {"stages=[\"train\"]"}));
  const fs::path file = dir.path() / "copied.safetensors";
  fs::copy_file(fs::path(resolve_checkpoint(run)) / "ema.safetensors", file);
  rflow::io::remove_tree(run);
  LoadedField f = load_field_file(file.string(), c10::Device(c10::kCPU));
  EXPECT_EQ(f.step, 60);
  EXPECT_EQ(f.sample_shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(f.cfg.model.get<MlpOptions>("mlp").hidden, 32);
  EXPECT_NE(f.written_by.find("rflow "), std::string::npos);
  // The same weights as the run's EMA: rebuild the run's model the ordinary way and compare.
  const std::string again = run_pipeline(tiny(dir.path(), "alone", {"stages=[\"train\"]"}));
  LoadedModel m = load_model(again, /*use_ema=*/true, c10::Device(c10::kCPU));
  torch::NoGradGuard ng;
  const at::Tensor x = torch::randn({16, 2}), t = torch::rand({16});
  EXPECT_TRUE(torch::equal(f.model->forward(x, t, {}), m.model->forward(x, t, {})));
  // load_model takes the file too (rflow sample / eval --checkpoint FILE.safetensors), with its data.
  LoadedModel from_file = load_model(file.string(), true, c10::Device(c10::kCPU));
  EXPECT_EQ(from_file.step, 60);
  EXPECT_EQ(from_file.data->sample_shape(), (std::vector<int64_t>{2}));
  EXPECT_TRUE(torch::equal(from_file.model->forward(x, t, {}), m.model->forward(x, t, {})));
  // Files without the description (other tools, older rflow) are refused with a way out.
  auto st = io::load_safetensors(file.string());
  st.metadata.erase("config");
  io::save_safetensors(file.string(), st.tensors, st.metadata);
  EXPECT_THROW(load_field_file(file.string(), c10::Device(c10::kCPU)), Error);
}

// A policy (a target with observations) trains through `rflow run`; stages that judge samples
// by distances are refused before anything is trained.
TEST(Pipeline, PolicyRunsTrainAndRefuseTheDistanceStagesUpFront) {
  test::TempDir dir;
  const std::vector<std::string> policy = {"data.target.name=fork1d", "model.mlp.obs_dim=1",
                                           "model.mlp.variance_hidden=16", "method.name=adaflow"};
  RunConfig cfg = tiny(dir.path(), "policy", policy);
  cfg.stages = {"train", "eval"};
  try {
    run_pipeline(cfg);
    ADD_FAILURE() << "a policy run with an eval stage was not refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("stages"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir.path() / "policy" / "checkpoints"));
  cfg.stages = {"train"};
  const std::string run = run_pipeline(cfg);
  LoadedModel m = load_model(run, true, c10::Device(c10::kCPU));
  Cond c;
  c.extra["obs"] = torch::full({4, 1}, -3.0f);
  torch::NoGradGuard ng;
  EXPECT_EQ(m.model->variance(torch::zeros({4, 1}), torch::zeros({4}), c).sizes(), (std::vector<int64_t>{4}));
}

// AdaFlow's two-stage recipe: a flow trained first (its variance head untrained), then only the
// head, initialised from it with the flow frozen: every flow weight stays bit for bit, the head
// learns (σ small where the demonstrations agree, large where they branch).
TEST(Pipeline, AdaFlowWithTheFlowFrozenTrainsOnlyTheVarianceHead) {
  test::TempDir dir;
  const std::vector<std::string> policy = {"data.target.name=fork1d", "model.mlp.obs_dim=1",
                                           "model.mlp.variance_hidden=16", "stages=[\"train\"]", "train.steps=400",
                                           "train.ema_decay=0.9"};
  std::vector<std::string> first = policy;
  first.push_back("method.name=rectified_flow");
  const std::string flow = run_pipeline(tiny(dir.path(), "flow", first));
  std::vector<std::string> second = policy;
  for (const char* o : {"method.name=adaflow", "method.adaflow.freeze_flow=true", "train.steps=300"}) second.push_back(o);
  second.push_back("train.init_from=" + flow);
  const std::string head = run_pipeline(tiny(dir.path(), "head", second));
  // The second run started from the first one's EMA weights; its raw weights after training:
  const auto start = io::load_safetensors((fs::path(resolve_checkpoint(flow)) / "ema.safetensors").string()).tensors;
  const auto end = weights(head);
  ASSERT_EQ(start.size(), end.size());
  int frozen = 0, moved = 0;
  for (size_t i = 0; i < start.size(); ++i) {
    ASSERT_EQ(start[i].first, end[i].first);
    const bool same_values = torch::equal(start[i].second, end[i].second);
    if (start[i].first.rfind("var_", 0) == 0) {
      moved += !same_values;
    } else {
      frozen += same_values;
      EXPECT_TRUE(same_values) << start[i].first << " moved";
    }
  }
  EXPECT_GT(frozen, 5);
  EXPECT_GT(moved, 2);
  LoadedModel m = load_model(head, false, c10::Device(c10::kCPU));
  torch::NoGradGuard ng;
  auto sigma_at = [&](float obs) {
    Cond c;
    c.extra["obs"] = torch::full({256, 1}, obs);
    return m.model->variance(torch::randn({256, 1}), torch::zeros({256}), c).mean().item<double>();
  };
  EXPECT_GT(sigma_at(6.0f), 3.0 * sigma_at(-6.0f));  // ±6 at the fork, one answer at −6
}
