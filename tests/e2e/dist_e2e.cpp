// Data-parallel training through the CLI, two local ranks over loopback (rflow run --nproc 2):
// two ranks of one shard each train exactly the weights one process of both shards trains; a rank
// killed mid-run stops the job with its name, and the run resumes on one process from the last
// checkpoint to the same weights as the run never interrupted.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/io/remove_tree.h"
#include "rflow/io/safetensors.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

std::string train_cmd(const rflow::test::TempDir& dir, const std::string& name, const std::string& more) {
  return std::string(RFLOW_CLI) + " train -c " + RFLOW_SOURCE_DIR + "/configs/demo_2d.toml --set out_dir=" + dir.path().string() +
         " --set name=" + name + " --set threads=1 --set train.log_every=50 " + more;
}

// The largest difference between two runs' weights at a checkpoint (model and EMA).
double weight_gap(const std::string& a, const std::string& b) {
  double gap = 0;
  for (const char* part : {"model.safetensors", "ema.safetensors"}) {
    const auto x = rflow::io::load_safetensors(a + "/" + part).tensors, y = rflow::io::load_safetensors(b + "/" + part).tensors;
    EXPECT_EQ(x.size(), y.size());
    for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
      EXPECT_EQ(x[i].first, y[i].first);
      gap = std::max(gap, (x[i].second - y[i].second).abs().max().item<double>());
    }
  }
  return gap;
}

// The workers the launcher `parent` started, by rank (read from their environment).
std::map<int, pid_t> workers_of(pid_t parent) {
  std::map<int, pid_t> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string pid, comm, state;
    pid_t ppid = 0;
    if (!(stat >> pid >> comm >> state >> ppid) || ppid != parent) continue;
    std::ifstream env(e.path() / "environ");
    const std::string all((std::istreambuf_iterator<char>(env)), {});
    const std::string key("\0RANK=", 6);
    if (const size_t at = all.find(key); at != std::string::npos) out[std::atoi(all.c_str() + at + key.size())] = std::stoi(name);
  }
  return out;
}

}  // namespace

TEST(Distributed, TwoRanksOfOneShardEachTrainTheWeightsOneProcessOfBothShardsTrains) {
  rflow::test::TempDir dir;
  const std::string steps = "--set train.steps=100 --set train.ckpt_every=100";
  auto one = rflow::test::shell(train_cmd(dir, "one", steps + " --set train.shards=2"));
  ASSERT_EQ(one.code, 0) << one.out;
  auto two = rflow::test::shell(train_cmd(dir, "two", steps + " --nproc 2"));
  ASSERT_EQ(two.code, 0) << two.out;
  EXPECT_NE(two.out.find("[rank 1]"), std::string::npos) << two.out;
  EXPECT_NE(two.out.find("shards 1 of 2 (128 samples each)"), std::string::npos) << two.out;
  const std::string ck = "/checkpoints/step_00000100";
  // Float tolerance: one process adds the second shard's gradients into the first's inside the
  // backward pass, two ranks add them in the all-reduce (another rounding).
  const double gap = weight_gap(dir.file("one") + ck, dir.file("two") + ck);
  std::cout << "largest weight difference after 100 steps: " << gap << "\n";
  EXPECT_LE(gap, 1e-5);
  // Rank 0 alone wrote the metrics, with the loss of the whole batch (both shards), as one process does.
  const auto losses = [&](const std::string& run) {
    std::vector<double> out;
    std::ifstream in(dir.file(run) + "/metrics.jsonl");
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line)["loss"].get<double>());
    return out;
  };
  const auto l1 = losses("one"), l2 = losses("two");
  ASSERT_EQ(l1.size(), 2u);
  ASSERT_EQ(l2.size(), 2u);
  for (size_t i = 0; i < 2; ++i) EXPECT_NEAR(l1[i], l2[i], 1e-6 * std::abs(l1[i])) << i;
  // A batch the ranks cannot split is refused before training.
  auto odd = rflow::test::shell(train_cmd(dir, "odd", steps + " --set train.batch_size=255 --nproc 2"));
  EXPECT_NE(odd.code, 0);
  EXPECT_NE(odd.out.find("does not split into 2 shards"), std::string::npos) << odd.out;
}

TEST(Distributed, AKilledRankStopsTheJobByNameAndTheRunResumesOnOneProcessToTheSameWeights) {
  rflow::test::TempDir dir;
  // Long enough that rank 1 is killed well before the end (the first checkpoint comes at step 100).
  const std::string steps = "--set train.steps=2000 --set train.ckpt_every=100";
  auto ref = rflow::test::shell(train_cmd(dir, "ref", steps + " --set train.shards=2"));
  ASSERT_EQ(ref.code, 0) << ref.out;
  // The same run on two ranks, rank 1 killed once the first checkpoint is on disk.
  const std::string log = dir.file("job.log");
  const pid_t job = rflow::test::spawn({RFLOW_CLI, "train", "-c", std::string(RFLOW_SOURCE_DIR) + "/configs/demo_2d.toml",
                                       "--set", "out_dir=" + dir.path().string(), "--set", "name=job", "--set", "threads=1",
                                       "--set", "train.log_every=50", "--set", "train.steps=2000", "--set",
                                       "train.ckpt_every=100", "--nproc", "2"},
                                      log);
  const std::string first = dir.file("job") + "/checkpoints/step_00000100/state.json";
  for (int i = 0; i < 600 && !fs::exists(first); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(first)) << rflow::test::read_text(log);
  const std::map<int, pid_t> ranks = workers_of(job);
  ASSERT_EQ(ranks.size(), 2u) << rflow::test::read_text(log);
  const auto t0 = std::chrono::steady_clock::now();
  kill(ranks.at(1), SIGKILL);
  int status = 0;
  waitpid(job, &status, 0);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << rflow::test::read_text(log);
  EXPECT_LT(secs, 60.0);
  const std::string said = rflow::test::read_text(log);
  EXPECT_NE(said.find("rank 1 exited with signal 9"), std::string::npos) << said;
  // Resumed alone (world size 1): the run keeps its two shards and reaches the reference's weights.
  auto resumed = rflow::test::shell(train_cmd(dir, "job", steps));
  ASSERT_EQ(resumed.code, 0) << resumed.out;
  EXPECT_NE(resumed.out.find("resuming from"), std::string::npos) << resumed.out;
  const std::string ck = "/checkpoints/step_00002000";
  const double gap = weight_gap(dir.file("ref") + ck, dir.file("job") + ck);
  std::cout << "largest weight difference after 2000 steps, resumed: " << gap << "\n";
  EXPECT_LE(gap, 1e-4);  // float rounding of the all-reduced steps, carried through 2000 steps
}

// Reflow pairs on two ranks (shard i on rank i mod 2) are, shard for shard, the pairs one process
// makes from the same teacher: nothing missing, nothing twice.
TEST(Distributed, PairsMadeOnTwoRanksAreTheOneProcessPairsShardForShard) {
  rflow::test::TempDir dir;
  const std::string base = std::string(RFLOW_CLI) + " run " + RFLOW_SOURCE_DIR + "/configs/reflow_8gaussians.toml --set out_dir=" +
                           dir.path().string() + " --set threads=1 --set train.steps=200 --set reflow.rounds=0" +
                           " --set reflow.pairs=3000 --set reflow.shard_size=500 --set reflow.steps=4 --set distill.from=[1]";
  auto teacher = rflow::test::shell(base + " --set name=one --stage train");
  ASSERT_EQ(teacher.code, 0) << teacher.out;
  fs::copy(dir.file("one"), dir.file("two"), fs::copy_options::recursive);
  auto one = rflow::test::shell(base + " --set name=one --stage reflow");
  ASSERT_EQ(one.code, 0) << one.out;
  auto two = rflow::test::shell(base + " --set name=two --stage reflow --nproc 2");
  ASSERT_EQ(two.code, 0) << two.out;
  EXPECT_NE(two.out.find("3000 written (6 shards new, 0 kept)"), std::string::npos) << two.out;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir.file("one") + "/pairs")) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  std::vector<std::string> theirs;
  for (const auto& e : fs::directory_iterator(dir.file("two") + "/pairs")) theirs.push_back(e.path().filename().string());
  std::sort(theirs.begin(), theirs.end());
  ASSERT_EQ(files, theirs);
  int shards = 0;
  for (const auto& f : files) {
    if (f == "manifest.json") continue;
    ++shards;
    EXPECT_EQ(rflow::test::read_text(dir.file("one") + "/pairs/" + f), rflow::test::read_text(dir.file("two") + "/pairs/" + f)) << f;
  }
  EXPECT_GE(shards, 6);
}

// The same for a U-Net and a mixture-of-experts DiT (small, on Fashion-MNIST): the convolutions'
// gradients and the experts' routing biases (from loads summed over the ranks) agree too.
TEST(Distributed, AUNetAndAMoEDiTTrainTheSameWeightsOnTwoRanks) {
  RFLOW_TEST_REQUIRES(fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"), "no Fashion-MNIST");
  rflow::test::TempDir dir;
  const std::map<std::string, std::string> models{
      {"fmnist_uncond", " --set model.unet.channels=8 --set model.unet.norm_groups=4 --set model.unet.attn_resolutions=[]"},
      {"dit_moe_fmnist", " --set model.dit.hidden=32 --set model.dit.depth=2 --set model.dit.heads=2"
                         " --set model.dit.moe.experts=4 --set model.dit.moe.hidden=32"}};
  for (const auto& [config, small] : models) {
    const std::string base = std::string(RFLOW_CLI) + " train -c " + RFLOW_SOURCE_DIR + "/configs/" + config +
                             ".toml --set out_dir=" + dir.path().string() + " --set threads=1 --set train.steps=100" +
                             " --set train.batch_size=16 --set train.ckpt_every=100" + small;
    auto one = rflow::test::shell(base + " --set name=" + config + "_one --set train.shards=2");
    ASSERT_EQ(one.code, 0) << one.out;
    // Gradients summed in 16 KB buckets started during the backward pass (experts that routed no
    // token hold theirs back to the end): the same weights as one process.
    auto two = rflow::test::shell(base + " --set name=" + config + "_two --set train.bucket_mb=0.015625 --nproc 2");
    ASSERT_EQ(two.code, 0) << two.out;
    const std::string ck = "/checkpoints/step_00000100";
    const double gap = weight_gap(dir.file(config + "_one") + ck, dir.file(config + "_two") + ck);
    std::cout << config << ": largest weight difference after 100 steps: " << gap << "\n";
    EXPECT_LE(gap, 1e-5) << config;
  }
}

// A whole run on two ranks: both train and share each evaluation's solves (samples of each solver,
// likelihood points), rank 0 alone scores and reports while rank 1 waits, and the run's files are
// rank 0's (one metrics file, one report), as a run of one process leaves them. The figures equal
// those of one process evaluating the same checkpoint: bit for bit for Euler (each row is solved as
// it would be in the whole batch), to the solver's tolerance for the adaptive solves.
TEST(Distributed, AWholeRunOnTwoRanksTrainsAndEvaluatesOnBothAndReportsOnRankZero) {
  rflow::test::TempDir dir;
  auto r = rflow::test::shell(std::string(RFLOW_CLI) + " run " + RFLOW_SOURCE_DIR + "/configs/demo_2d.toml --set out_dir=" +
                              dir.path().string() + " --set threads=1 --set train.steps=200 --set eval.n=500" +
                              " --set eval.nfe=[1,4] --set 'eval.solvers=[\"euler\",\"dopri5\"]' --set eval.likelihood_n=60 --nproc 2");
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string run = dir.file("demo_2d");
  for (const char* f : {"/stages/train.done", "/stages/eval.done", "/stages/report.done", "/report.html", "/metrics.jsonl"})
    EXPECT_TRUE(fs::exists(run + f)) << f << "\n" << r.out;
  EXPECT_EQ(r.out.find("[rank 1] [info] stage eval: running"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[rank 0] [info] stage eval: running"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("[rank 1] [info] eval:"), std::string::npos) << r.out;  // rank 0 reports the figures
  // Run again: every stage is done, on both ranks alike.
  auto again = rflow::test::shell(std::string(RFLOW_CLI) + " run " + run + " --nproc 2");
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_NE(again.out.find("stage train: done already, skipping"), std::string::npos) << again.out;

  // The same evaluation by one process.
  const auto read = [](const std::string& path) { return nlohmann::json::parse(std::ifstream(path)); };
  const nlohmann::json two_euler = read(run + "/eval/results/euler_nfe4.json"), two_dopri = read(run + "/eval/results/dopri5.json"),
                       two_metrics = read(run + "/eval/metrics.json");
  rflow::io::remove_tree(run + "/eval");
  fs::remove(run + "/stages/eval.done");
  auto one = rflow::test::shell(std::string(RFLOW_CLI) + " run " + run + " --stage eval --set threads=1");
  ASSERT_EQ(one.code, 0) << one.out;
  EXPECT_EQ(read(run + "/eval/results/euler_nfe4.json")["scores"], two_euler["scores"]);
  const nlohmann::json one_dopri = read(run + "/eval/results/dopri5.json");
  EXPECT_DOUBLE_EQ(one_dopri["nfe"].get<double>(), two_dopri["nfe"].get<double>());  // every sample took the same steps
  EXPECT_NEAR(one_dopri["scores"]["w2"].get<double>(), two_dopri["scores"]["w2"].get<double>(), 1e-6);
  const nlohmann::json one_lik = read(run + "/eval/metrics.json")["likelihood"], two_lik = two_metrics["likelihood"];
  ASSERT_TRUE(two_lik["computed"].get<bool>());
  // Halves of 30 points take LibTorch's GEMM where 60 take oneDNN's (linear.h): rounding apart, which
  // can tip a step of the 1e-5 controller; the figure agrees to the solve's tolerance.
  EXPECT_NEAR(one_lik["nfe_mean"].get<double>(), two_lik["nfe_mean"].get<double>(), 0.02 * two_lik["nfe_mean"].get<double>());
  EXPECT_NEAR(one_lik["mean_log_p"].get<double>(), two_lik["mean_log_p"].get<double>(), 1e-4);
}
