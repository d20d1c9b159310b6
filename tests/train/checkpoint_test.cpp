#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/rng.h"
#include "rflow/io/remove_tree.h"
#include "rflow/io/safetensors.h"
#include "rflow/methods/method_config.h"
#include "rflow/nn/ema.h"
#include "rflow/nn/mlp.h"
#include "rflow/nn/model_config.h"
#include "rflow/train/checkpoint.h"
#include "rflow/train/trainer.h"
#include "tests/method_util.h"
#include "tests/test_util.h"

using namespace rflow;
namespace fs = std::filesystem;

namespace {

TrainConfig small_train(int64_t steps) {
  TrainConfig tc;
  tc.steps = steps;
  tc.batch_size = 64;
  tc.lr = 1e-3;
  tc.warmup = 20;
  tc.ckpt_every = 50;
  tc.log_every = 10;
  tc.keep_checkpoints = 10;
  return tc;
}

ModelConfig small_model() {
  ModelConfig mc;
  mc.get<MlpOptions>("mlp").hidden = 32;
  mc.get<MlpOptions>("mlp").depth = 2;
  return mc;
}

struct Fixture {
  std::unique_ptr<IndependentCoupling> data;
  VelocityField model;
  std::unique_ptr<Method> method;
  explicit Fixture(uint64_t seed) {
    seed_all(seed);
    data = make_coupling(DataConfig{});
    model = make_model(small_model(), {2});
    method = make_method(MethodConfig{});
  }
};

void expect_modules_equal(const torch::nn::Module& a, const torch::nn::Module& b) {
  auto ta = module_tensors(a), tb = module_tensors(b);
  ASSERT_EQ(ta.size(), tb.size());
  for (size_t i = 0; i < ta.size(); ++i) {
    EXPECT_EQ(ta[i].first, tb[i].first);
    EXPECT_TRUE(torch::equal(ta[i].second, tb[i].second)) << ta[i].first;
  }
}

class NanAtStep : public Method {
 public:
  NanAtStep(std::unique_ptr<Method> inner, int64_t bad) : inner_(std::move(inner)), bad_(bad) {}
  std::string name() const override { return "nan_at_step"; }
  at::Tensor loss(const Batch& b, TrainContext& ctx) override {
    auto l = inner_->loss(b, ctx);
    return ctx.step == bad_ ? l * std::numeric_limits<float>::quiet_NaN() : l;
  }

 private:
  std::unique_ptr<Method> inner_;
  int64_t bad_;
};

}  // namespace

TEST(Checkpoint, RoundTripIsBitExact) {
  test::TempDir dir;
  Fixture s(1);
  Ema ema(*s.model, 0.9);
  torch::optim::Adam opt(s.model->parameters(), 1e-3);
  // One real step so the optimizer has state.
  auto b = s.data->next(16, torch::kCPU);
  test::method_loss(*s.method, b, *s.model).backward();
  opt.step();
  ema.update(*s.model);
  std::string ck = save_checkpoint(dir.file("ck"), *s.model, &ema, &opt, CheckpointState{1, rng_state(), 1, "{}"}, "{}", 2);

  Fixture t(99);  // different initial weights
  Ema ema2(*t.model, 0.9);
  torch::optim::Adam opt2(t.model->parameters(), 1e-3);
  load_checkpoint(ck, *t.model, &ema2, &opt2);
  expect_modules_equal(*s.model, *t.model);
  auto e1 = ema.state(), e2 = ema2.state();
  for (size_t i = 0; i < e1.size(); ++i) EXPECT_TRUE(torch::equal(e1[i].second, e2[i].second));
  EXPECT_EQ(ema2.updates(), 1);
  EXPECT_EQ(resolve_checkpoint(dir.file("ck")), ck);
  EXPECT_EQ(read_checkpoint_state(ck).step, 1);
  // No temporary directories remain.
  for (const auto& e : fs::directory_iterator(dir.file("ck"))) EXPECT_NE(e.path().filename().string().rfind(".tmp", 0), 0u);
}

TEST(Checkpoint, MismatchedModelIsNamed) {
  test::TempDir dir;
  Fixture s(1);
  std::string ck = save_checkpoint(dir.file("ck"), *s.model, nullptr, nullptr, CheckpointState{0, rng_state()}, "{}", 1);
  ModelConfig bigger = small_model();
  bigger.get<MlpOptions>("mlp").hidden = 48;
  auto other = make_model(bigger, {2});
  try {
    load_weights(ck, *other, false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("shape/dtype differs"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("in_x.weight"), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, ResumeEqualsUninterruptedRunBitForBit) {
  test::TempDir dir;
  {
    Fixture s(3);
    Trainer(small_train(200), s.model, *s.method, *s.data, dir.file("straight"), "{}", torch::kCPU).run();
  }
  {
    Fixture s(3);
    auto r = Trainer(small_train(200), s.model, *s.method, *s.data, dir.file("resumed"), "{}", torch::kCPU).run(100);
    EXPECT_EQ(r.step, 100);
  }
  // A crash after step 100's checkpoint leaves metric lines past it and a torn last line: the
  // resumed run drops both and writes each step once.
  {
    std::ofstream m(dir.file("resumed/metrics.jsonl"), std::ios::app);
    m << "{\"step\": 110, \"loss\": 123.0}\n{\"step\": 120, \"lo";
  }
  Fixture s(12345);  // a new process would rebuild the model from scratch: the checkpoint must win
  auto r = Trainer(small_train(200), s.model, *s.method, *s.data, dir.file("resumed"), "{}", torch::kCPU).run();
  EXPECT_EQ(r.resumed_from, 100);
  EXPECT_EQ(r.step, 200);

  Fixture a(0), b(0);
  load_weights(resolve_checkpoint(dir.file("straight/checkpoints")), *a.model, false);
  load_weights(resolve_checkpoint(dir.file("resumed/checkpoints")), *b.model, false);
  expect_modules_equal(*a.model, *b.model);
  load_weights(resolve_checkpoint(dir.file("straight/checkpoints")), *a.model, true);
  load_weights(resolve_checkpoint(dir.file("resumed/checkpoints")), *b.model, true);
  expect_modules_equal(*a.model, *b.model);
  // metrics.jsonl of the resumed run has each step once, with the same losses.
  auto losses = [](const std::string& text) {
    std::vector<std::pair<int64_t, double>> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line);
      out.emplace_back(j["step"].get<int64_t>(), j["loss"].get<double>());
    }
    return out;
  };
  auto a_losses = losses(test::read_text(dir.file("straight/metrics.jsonl")));
  EXPECT_EQ(a_losses.size(), 20u);
  EXPECT_EQ(a_losses, losses(test::read_text(dir.file("resumed/metrics.jsonl"))));
}

TEST(Checkpoint, KeepsTheNewestAndLatestPointsToTheLast) {
  test::TempDir dir;
  Fixture s(5);
  TrainConfig tc = small_train(200);
  tc.keep_checkpoints = 2;  // checkpoints at 50, 100, 150, 200: the two newest stay
  Trainer(tc, s.model, *s.method, *s.data, dir.file("run"), "{}", torch::kCPU).run();
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.file("run/checkpoints")))
    if (e.is_directory()) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"step_00000150", "step_00000200"}));
  EXPECT_EQ(test::read_text(dir.file("run/checkpoints/LATEST")), "step_00000200\n");
  EXPECT_EQ(std::filesystem::path(resolve_checkpoint(dir.file("run/checkpoints"))).filename(), "step_00000200");
}

TEST(Checkpoint, NanLossStopsTrainingAndKeepsLastGoodCheckpoint) {
  test::TempDir dir;
  Fixture s(5);
  NanAtStep bad(make_method(MethodConfig{}), 70);
  Trainer tr(small_train(200), s.model, bad, *s.data, dir.file("run"), "{}", torch::kCPU);
  try {
    tr.run();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("NaN at step 70"), std::string::npos) << m;
    EXPECT_NE(m.find("step_00000050"), std::string::npos) << m;
  }
  std::string ck = resolve_checkpoint(dir.file("run"));
  EXPECT_EQ(read_checkpoint_state(ck).step, 50);
  Fixture t(5);
  load_weights(ck, *t.model, true);  // loads cleanly
  for (const auto& p : t.model->parameters()) EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
}

// The Trainer hands its clipping factor to the update: clipped to a norm of 1e-9, no gradient entry
// exceeds 1e-9, a tenth of Adam's ε, so each step moves a weight by at most ~lr/11 instead of ~lr,
// while the logged norm is the one before clipping.
TEST(Trainer, ClippingReachesTheUpdateAndTheLogShowsTheNormBeforeIt) {
  test::TempDir dir;
  auto moved = [&](double clip, const std::string& name) {
    Fixture s(8);
    std::vector<at::Tensor> before;
    for (const auto& p : s.model->parameters()) before.push_back(p.detach().clone());
    TrainConfig tc = small_train(30);
    tc.warmup = 0;
    tc.grad_clip = clip;
    tc.ema_decay = 0;
    Trainer(tc, s.model, *s.method, *s.data, dir.file(name), "{}", torch::kCPU).run();
    double most = 0;
    auto ps = s.model->parameters();
    for (size_t i = 0; i < ps.size(); ++i) most = std::max(most, (ps[i] - before[i]).abs().max().item<double>());
    return most;
  };
  const double free = moved(0.0, "free"), clipped = moved(1e-9, "clipped");
  EXPECT_GT(free, 5e-3);  // 30 steps at lr 1e-3
  EXPECT_LT(clipped, 0.1 * free) << "clipping did not reach the update (unclipped: " << free << ")";
  std::istringstream in(test::read_text(dir.file("clipped/metrics.jsonl")));
  std::string line;
  ASSERT_TRUE(static_cast<bool>(std::getline(in, line)));
  EXPECT_GT(nlohmann::json::parse(line)["grad_norm"].get<double>(), 1e-3);
}

namespace {
// A loss whose gradient is exactly zero: Adam's moments stay 0, so whatever moves a weight is the
// weight decay alone.
class ZeroGradient : public Method {
 public:
  std::string name() const override { return "zero_gradient"; }
  at::Tensor loss(const Batch& b, TrainContext& ctx) override {
    return (ctx.model.forward(b.x1, torch::zeros({b.x1.size(0)})) * 0).sum();
  }
};
}  // namespace

// AdamW through the Trainer decays decoupled from the gradient: with g = 0 every weight shrinks
// by exactly (1 − lr·wd) per step. Adam's L2 decay (the bug where adamw falls back to adam)
// normalises g = wd·w instead and moves every weight by ~lr per step regardless of its size.
TEST(Trainer, AdamWDecaysEachWeightByLrTimesDecayPerStep) {
  test::TempDir dir;
  for (const char* opt : {"adamw", "adam"}) {
    Fixture s(9);
    std::vector<at::Tensor> before;
    for (const auto& p : s.model->parameters()) before.push_back(p.detach().clone());
    TrainConfig tc = small_train(20);
    tc.optimizer = opt;
    tc.warmup = 0;
    tc.schedule = "constant";
    tc.lr = 1e-2;
    tc.weight_decay = 0.5;
    tc.ema_decay = 0;
    ZeroGradient zero;
    Trainer(tc, s.model, zero, *s.data, dir.file(opt), "{}", torch::kCPU).run();
    const double factor = std::pow(1 - 1e-2 * 0.5, 20);  // 0.9046
    auto ps = s.model->parameters();
    double worst = 0;
    for (size_t i = 0; i < ps.size(); ++i)
      worst = std::max(worst, (ps[i] - before[i] * factor).abs().max().item<double>());
    if (std::string(opt) == "adamw")
      EXPECT_LT(worst, 1e-6) << "AdamW is not decoupled decay";
    else
      EXPECT_GT(worst, 0.05) << "Adam's L2 decay looks like AdamW's: the optimizer setting is ignored";
  }
}

namespace {

using Damage = std::function<void(const fs::path&)>;

// The ways a checkpoint was found broken (disk errors, a crash in another tool, hand edits).
std::vector<std::pair<std::string, Damage>> damages() {
  auto rewrite = [](const fs::path& f, const std::string& text) { test::write_text(f.string(), text); };
  return {
      {"truncated weights", [](const fs::path& d) { fs::resize_file(d / "model.safetensors", fs::file_size(d / "model.safetensors") / 2); }},
      {"truncated EMA", [](const fs::path& d) { fs::resize_file(d / "ema.safetensors", 100); }},
      {"missing weights", [](const fs::path& d) { fs::remove(d / "model.safetensors"); }},
      {"NaN weights", [](const fs::path& d) {
         auto st = io::load_safetensors((d / "ema.safetensors").string());
         st.tensors[0].second.view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
         io::save_safetensors((d / "ema.safetensors").string(), st.tensors, st.metadata);
       }},
      {"state of another step", [=](const fs::path& d) {
         auto j = nlohmann::json::parse(test::read_text((d / "state.json").string()));
         j["step"] = 150;
         rewrite(d / "state.json", j.dump());
       }},
      {"negative step", [=](const fs::path& d) {
         auto j = nlohmann::json::parse(test::read_text((d / "state.json").string()));
         j["step"] = -1;
         rewrite(d / "state.json", j.dump());
       }},
      {"torn state.json", [=](const fs::path& d) { rewrite(d / "state.json", "{\"step\": 2"); }},
      // Found by fuzzing: a float step was cast to an integer, undefined beyond int64's range.
      {"step not an integer", [=](const fs::path& d) {
         auto j = nlohmann::json::parse(test::read_text((d / "state.json").string()));
         j["step"] = 1.01e66;
         rewrite(d / "state.json", j.dump());
       }},
      {"config.json not JSON", [=](const fs::path& d) { rewrite(d / "config.json", "\x01\x02garbage"); }},
      {"truncated optimizer state", [](const fs::path& d) { fs::resize_file(d / "optimizer.pt", 100); }},
  };
}

}  // namespace

// A damaged newest checkpoint must not stop sample/info/resume while an older one is intact: the
// newest checkpoint that validates is used (with a warning naming the skipped one). LATEST is not
// followed: deleted, or pointing outside the run, it changes nothing.
TEST(Checkpoint, ADamagedNewestCheckpointFallsBackToTheNewestIntactOne) {
  test::TempDir dir;
  {
    Fixture s(3);
    Trainer(small_train(200), s.model, *s.method, *s.data, dir.file("run"), "{}", torch::kCPU).run();
  }
  int i = 0;
  for (const auto& [what, damage] : damages()) {
    const fs::path copy = dir.file("copy" + std::to_string(i++));
    fs::copy(dir.file("run"), copy, fs::copy_options::recursive);
    damage(copy / "checkpoints" / "step_00000200");
    const fs::path ck = resolve_checkpoint(copy.string());
    EXPECT_EQ(ck.filename(), "step_00000150") << what;
    EXPECT_NE(checkpoint_problem((copy / "checkpoints" / "step_00000200").string()), "") << what;
    // Named by itself, the damaged checkpoint is refused with the reason.
    EXPECT_THROW(resolve_checkpoint((copy / "checkpoints" / "step_00000200").string()), Error) << what;
  }
  const fs::path run = dir.file("run");
  fs::remove(run / "checkpoints" / "LATEST");
  EXPECT_EQ(fs::path(resolve_checkpoint(run.string())).filename(), "step_00000200");
  test::write_text((run / "checkpoints" / "LATEST").string(), "../../../../etc\n");
  EXPECT_EQ(fs::path(resolve_checkpoint(run.string())).filename(), "step_00000200");
  // Nothing intact at all: an error that says so, not a silent start from step 0.
  for (const char* step : {"step_00000050", "step_00000100", "step_00000150", "step_00000200"})
    fs::resize_file(run / "checkpoints" / step / "model.safetensors", 10);
  try {
    resolve_checkpoint(run.string());
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no intact checkpoint"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("step_00000050"), std::string::npos) << e.what();
  }
}

// Resuming past a damaged checkpoint: training continues from the newest intact one, the damaged
// one is moved aside (never overwritten), and the result equals an uninterrupted run bit for bit.
TEST(Checkpoint, ResumePastADamagedCheckpointEqualsAnUninterruptedRun) {
  test::TempDir dir;
  {
    Fixture s(3);
    Trainer(small_train(300), s.model, *s.method, *s.data, dir.file("straight"), "{}", torch::kCPU).run();
  }
  {
    Fixture s(3);
    Trainer(small_train(300), s.model, *s.method, *s.data, dir.file("damaged"), "{}", torch::kCPU).run(200);
  }
  const fs::path ckpts = dir.file("damaged/checkpoints");
  fs::resize_file(ckpts / "step_00000200" / "ema.safetensors", 64);
  fs::remove(ckpts / "LATEST");  // what the old error message told users to do
  Fixture s(12345);
  auto r = Trainer(small_train(300), s.model, *s.method, *s.data, dir.file("damaged"), "{}", torch::kCPU).run();
  EXPECT_EQ(r.resumed_from, 150);
  EXPECT_EQ(r.step, 300);
  EXPECT_TRUE(fs::exists(ckpts / "step_00000200.damaged"));
  EXPECT_EQ(checkpoint_problem((ckpts / "step_00000200").string()), "");
  Fixture a(0), b(0);
  load_weights(resolve_checkpoint(dir.file("straight")), *a.model, true);
  load_weights(resolve_checkpoint(dir.file("damaged")), *b.model, true);
  expect_modules_equal(*a.model, *b.model);
}

TEST(Checkpoint, AnIntactStepIsNeverOverwritten) {
  test::TempDir dir;
  Fixture s(1);
  save_checkpoint(dir.file("ck"), *s.model, nullptr, nullptr, CheckpointState{7, rng_state()}, "{}", 5);
  try {
    save_checkpoint(dir.file("ck"), *s.model, nullptr, nullptr, CheckpointState{7, rng_state()}, "{}", 5);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exists already"), std::string::npos) << e.what();
  }
}

// A checkpoint write that the file system refuses part-way (a file-size limit standing in for a
// full disk) fails with the reason, leaves no half-written checkpoint, and the previous one is
// still the one loaded.
TEST(Checkpoint, AWriteThatFailsPartWayKeepsThePreviousCheckpoint) {
  test::TempDir dir;
  Fixture s(1);
  const std::string first = save_checkpoint(dir.file("ck"), *s.model, nullptr, nullptr, CheckpointState{1, rng_state()}, "{}", 5);
  std::string err;
  {
    test::FileSizeLimit limit(2048);  // the model file is ~13 KB
    ASSERT_TRUE(limit.ok());
    try {
      save_checkpoint(dir.file("ck"), *s.model, nullptr, nullptr, CheckpointState{2, rng_state()}, "{}", 5);
    } catch (const Error& e) {
      err = e.what();
    }
  }
  EXPECT_NE(err.find("File too large"), std::string::npos) << err;
  EXPECT_EQ(resolve_checkpoint(dir.file("ck")), first);
  for (const auto& e : fs::directory_iterator(dir.file("ck")))
    EXPECT_EQ(e.path().filename().string().find("tmp"), std::string::npos) << e.path();
}

// A checkpoint written for another model (here: another model section in its config.json, with
// tensors of the same shapes) is not resumed into this run's model.
TEST(Checkpoint, ResumeRefusesACheckpointOfAnotherModel) {
  test::TempDir dir;
  {
    Fixture s(3);
    Trainer(small_train(100), s.model, *s.method, *s.data, dir.file("run"), R"({"model": {"embedding": "sinusoidal"}})",
            torch::kCPU).run(50);
  }
  Fixture s(3);
  try {
    Trainer(small_train(100), s.model, *s.method, *s.data, dir.file("run"), R"({"model": {"embedding": "fourier"}})",
            torch::kCPU).run();
    ADD_FAILURE() << "resumed another model's checkpoint";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("another model"), std::string::npos) << e.what();
  }
}

// A full disk while the optimizer state is written is the same clear error as for the weight files
// (it used to abort the process from inside torch::save), and the previous checkpoint stays whole.
TEST(Checkpoint, ADiskFullWhileWritingTheOptimizerStateIsAnErrorAndTheLastCheckpointStays) {
  test::TempDir dir;
  Fixture s(3);
  torch::optim::Adam adam(s.model->parameters(), torch::optim::AdamOptions(1e-3));
  auto loss = s.model->forward(torch::randn({8, 2}), torch::rand({8}), Cond{}).pow(2).mean();
  loss.backward();
  adam.step();  // moments: the optimizer file is about twice the weights
  const std::string first = save_checkpoint(dir.file("ck"), *s.model, nullptr, &adam, CheckpointState{1, rng_state()}, "{}", 5);
  const auto model_bytes = fs::file_size(fs::path(first) / "model.safetensors");
  ASSERT_GT(fs::file_size(fs::path(first) / "optimizer.pt"), model_bytes + 4096);
  std::string err;
  {
    test::FileSizeLimit limit(model_bytes + 4096);  // room for the weights, not for the moments
    ASSERT_TRUE(limit.ok());
    try {
      save_checkpoint(dir.file("ck"), *s.model, nullptr, &adam, CheckpointState{2, rng_state()}, "{}", 5);
    } catch (const Error& e) {
      err = e.what();
    }
  }
  EXPECT_NE(err.find("optimizer.pt"), std::string::npos) << err;
  EXPECT_NE(err.find("File too large"), std::string::npos) << err;
  EXPECT_NE(err.find("the previous checkpoint is intact"), std::string::npos) << err;
  EXPECT_EQ(resolve_checkpoint(dir.file("ck")), first);
  for (const auto& e : fs::directory_iterator(dir.file("ck")))
    EXPECT_EQ(e.path().filename().string().find("tmp"), std::string::npos) << e.path();
}

// Damage that shows only when a checkpoint is loaded into the model (a part missing, an RNG state
// cut short or not hex, an EMA or optimizer state of another model) makes a resume fall back to
// the checkpoint before it, like the damage checkpoint_problem sees; kill -9 leftovers go.
TEST(Checkpoint, ResumeFallsBackPastEveryCheckpointThatDoesNotLoad) {
  test::TempDir dir;
  {
    Fixture s(3);
    Trainer(small_train(100), s.model, *s.method, *s.data, dir.file("run"), "{}", torch::kCPU).run();
  }
  {  // the same run shape with a wider network: its EMA and optimizer state do not fit
    Fixture s(3);
    ModelConfig wide = small_model();
    wide.get<MlpOptions>("mlp").hidden = 48;
    s.model = make_model(wide, {2});
    Trainer(small_train(50), s.model, *s.method, *s.data, dir.file("wide"), "{}", torch::kCPU).run();
  }
  const fs::path wide = dir.file("wide/checkpoints/step_00000050");
  auto edit_rng = [](const fs::path& ck, const std::function<std::string(std::string)>& f) {
    auto j = nlohmann::json::parse(test::read_text((ck / "state.json").string()));
    j["rng"] = f(j["rng"].get<std::string>());
    test::write_text((ck / "state.json").string(), j.dump());
  };
  const std::vector<std::pair<std::string, std::function<void(const fs::path&)>>> damages{
      {"no optimizer.pt", [](const fs::path& ck) { fs::remove(ck / "optimizer.pt"); }},
      {"no ema.safetensors", [](const fs::path& ck) { fs::remove(ck / "ema.safetensors"); }},
      {"rng not hex", [&](const fs::path& ck) { edit_rng(ck, [](std::string s) { return "zz" + s.substr(2); }); }},
      {"rng cut short", [&](const fs::path& ck) { edit_rng(ck, [](std::string s) { return s.substr(0, 100); }); }},
      {"ema of another model", [&](const fs::path& ck) { fs::copy_file(wide / "ema.safetensors", ck / "ema.safetensors", fs::copy_options::overwrite_existing); }},
      {"optimizer of another model", [&](const fs::path& ck) { fs::copy_file(wide / "optimizer.pt", ck / "optimizer.pt", fs::copy_options::overwrite_existing); }}};
  for (const auto& [what, damage] : damages) {
    const std::string run = dir.file("copy");
    io::remove_tree(run);
    fs::copy(dir.file("run"), run, fs::copy_options::recursive);
    damage(fs::path(run) / "checkpoints" / "step_00000100");
    test::write_text(run + "/checkpoints/LATEST.tmp.999999999.0", "step_0000");  // a dead writer's
    Fixture s(3);
    TrainResult r;
    try {
      r = Trainer(small_train(150), s.model, *s.method, *s.data, run, "{}", torch::kCPU).run();
    } catch (const std::exception& e) {
      ADD_FAILURE() << what << ": " << e.what();
      continue;
    }
    EXPECT_EQ(r.resumed_from, 50) << what;
    EXPECT_EQ(r.step, 150) << what;
    EXPECT_TRUE(fs::exists(run + "/checkpoints/step_00000100.damaged")) << what;
    EXPECT_FALSE(fs::exists(run + "/checkpoints/LATEST.tmp.999999999.0")) << what;
  }
}

// A resumed run writes the metrics an uninterrupted one does, line for line (only the measured
// speed differs): the window of steps since the last line travels with the checkpoint.
TEST(Checkpoint, MetricsAfterAResumeAreTheUninterruptedRunsLineForLine) {
  test::TempDir dir;
  TrainConfig tc = small_train(100);
  tc.ckpt_every = 30, tc.log_every = 20;  // checkpoints inside log windows
  {
    Fixture s(3);
    Trainer(tc, s.model, *s.method, *s.data, dir.file("straight"), "{}", torch::kCPU).run();
  }
  {
    Fixture s(3);
    Trainer(tc, s.model, *s.method, *s.data, dir.file("resumed"), "{}", torch::kCPU).run(60);
  }
  // Killed after step 30's checkpoint: step 60's never reached the disk, its lines are left over.
  io::remove_tree(dir.file("resumed/checkpoints/step_00000060"));
  {
    Fixture s(3);
    const auto r = Trainer(tc, s.model, *s.method, *s.data, dir.file("resumed"), "{}", torch::kCPU).run();
    ASSERT_EQ(r.resumed_from, 30);
  }
  auto lines = [&](const std::string& run) {
    std::vector<nlohmann::json> out;
    std::istringstream in(test::read_text(dir.file(run + "/metrics.jsonl")));
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line);
      j.erase("steps_per_s");
      out.push_back(j);
    }
    return out;
  };
  const auto a = lines("straight"), b = lines("resumed");
  ASSERT_EQ(a.size(), 5u);
  ASSERT_EQ(b.size(), a.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].dump(), b[i].dump()) << "line " << i + 1;
  const auto state = [&](const std::string& run) {
    return nlohmann::json::parse(test::read_text(dir.file(run + "/checkpoints/step_00000090/state.json"))).at("metrics");
  };
  EXPECT_EQ(state("straight").dump(), state("resumed").dump());
}
