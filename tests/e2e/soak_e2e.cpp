// Crash soak (run by scripts/soak.sh, not by the suite): `rflow run` killed with SIGKILL at many
// random moments — half of them the instant a checkpoint starts being written — and rerun each
// time, ends with a checkpoint equal, tensor by tensor, to an uninterrupted run's: weights, EMA,
// optimizer state (compared by parameter, not by file bytes) and state.json.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/io/safetensors.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/train/checkpoint.h"
#include "rflow/train/optimizer_state_key.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

std::vector<std::string> run_args(const fs::path& out) {
  return {RFLOW_CLI, "run", std::string(RFLOW_SOURCE_DIR) + "/configs/demo_2d.toml", "--set", "out_dir=" + out.string(),
          "--set", "threads=1", "--set", "model.mlp.hidden=64", "--set", "train.steps=3000", "--set",
          "train.ckpt_every=50", "--set", "train.keep_checkpoints=3", "--set", "stages=[\"train\"]"};
}

bool tmp_checkpoint_exists(const fs::path& ckpts) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(ckpts, ec))
    if (e.path().filename().string().rfind(".tmp_", 0) == 0) return true;
  return false;
}

void expect_same_tensors(const fs::path& a, const fs::path& b) {
  auto ta = rflow::io::load_safetensors(a.string()).tensors, tb = rflow::io::load_safetensors(b.string()).tensors;
  ASSERT_EQ(ta.size(), tb.size()) << a;
  for (size_t i = 0; i < ta.size(); ++i) {
    EXPECT_EQ(ta[i].first, tb[i].first);
    EXPECT_TRUE(torch::equal(ta[i].second, tb[i].second)) << a.filename() << " " << ta[i].first;
  }
}

// Adam's state per parameter, in the model's parameter order (optimizer.pt keys it by address, so
// the file's entry order differs between processes).
std::vector<std::vector<at::Tensor>> adam_state(const std::string& ckpt) {
  rflow::LoadedModel m = rflow::load_model(ckpt, false, torch::kCPU);
  auto params = m.model->parameters();
  torch::optim::Adam opt(params, torch::optim::AdamOptions(1e-3));
  torch::load(opt, (fs::path(ckpt) / "optimizer.pt").string());
  std::vector<std::vector<at::Tensor>> out;
  for (const auto& p : params) {
    auto it = opt.state().find(rflow::optimizer_state_key(p));
    if (it == opt.state().end()) {
      out.push_back({});
      continue;
    }
    auto& s = static_cast<torch::optim::AdamParamState&>(*it->second);
    out.push_back(std::vector<at::Tensor>{s.exp_avg(), s.exp_avg_sq(), torch::full({1}, static_cast<double>(s.step()), torch::kFloat64)});
  }
  return out;
}

}  // namespace

TEST(Soak, DISABLED_KilledAtRandomMomentsTheRunEndsAsAnUninterruptedOne) {
  const int kills = std::getenv("RFLOW_SOAK_KILLS") ? std::atoi(std::getenv("RFLOW_SOAK_KILLS")) : 20;
  rflow::test::TempDir dir;
  const fs::path whole = dir.path() / "whole", killed = dir.path() / "killed";
  auto t0 = std::chrono::steady_clock::now();
  int status = 0;
  waitpid(rflow::test::spawn(run_args(whole), dir.file("whole.log")), &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << rflow::test::read_text(dir.file("whole.log"));
  const double run_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::mt19937_64 rng(std::getenv("RFLOW_SOAK_SEED") ? std::strtoull(std::getenv("RFLOW_SOAK_SEED"), nullptr, 10) : 1);
  const fs::path ckpts = killed / "demo_2d" / "checkpoints";
  int done_kills = 0, during_write = 0;
  for (int i = 0; i < kills; ++i) {
    const pid_t pid = rflow::test::spawn(run_args(killed), dir.file("killed.log"));
    const bool at_write = i % 2 == 1;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(
        at_write ? run_s : std::uniform_real_distribution<double>(0.05, run_s / 4)(rng));
    bool exited = false;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid, &status, WNOHANG) == pid) {
        exited = true;
        break;
      }
      if (at_write && tmp_checkpoint_exists(ckpts)) break;
      if (!at_write) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (exited) break;  // finished before this kill: the rest would only find it done
    during_write += at_write && tmp_checkpoint_exists(ckpts);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    ++done_kills;
  }
  waitpid(rflow::test::spawn(run_args(killed), dir.file("killed.log")), &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << rflow::test::read_text(dir.file("killed.log"));
  std::cout << "soak: " << done_kills << " kills (" << during_write << " while a checkpoint was being written), "
            << "uninterrupted run " << run_s << " s\n";
  EXPECT_GE(done_kills, kills / 2) << "the run finished too early to be killed often; make it longer";

  const std::string a = rflow::resolve_checkpoint((whole / "demo_2d").string());
  const std::string b = rflow::resolve_checkpoint((killed / "demo_2d").string());
  ASSERT_EQ(fs::path(a).filename(), fs::path(b).filename());
  for (const char* f : {"model.safetensors", "ema.safetensors"}) expect_same_tensors(fs::path(a) / f, fs::path(b) / f);
  auto sa = nlohmann::json::parse(rflow::test::read_text(a + "/state.json"));
  auto sb = nlohmann::json::parse(rflow::test::read_text(b + "/state.json"));
  EXPECT_EQ(sa["step"], sb["step"]);
  EXPECT_EQ(sa["rng"], sb["rng"]);
  EXPECT_EQ(sa["ema_updates"], sb["ema_updates"]);
  auto oa = adam_state(a), ob = adam_state(b);
  ASSERT_EQ(oa.size(), ob.size());
  for (size_t i = 0; i < oa.size(); ++i) {
    ASSERT_EQ(oa[i].size(), ob[i].size()) << "parameter " << i;
    for (size_t k = 0; k < oa[i].size(); ++k) EXPECT_TRUE(torch::equal(oa[i][k], ob[i][k])) << "parameter " << i << " state " << k;
  }
}
