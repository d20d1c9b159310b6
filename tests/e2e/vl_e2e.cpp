// End-to-end: the vision-language commands as a user meets them — a tiny run (tiled model and
// resize baseline, eval, report), `rflow vl ask` on PNG files of several sizes, every kind of bad
// input refused with a message naming the problem, and Ctrl-C during training resumed exactly.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/io/image_file.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

rflow::test::ShellResult run_cli(const std::string& args) { return rflow::test::shell(std::string(RFLOW_CLI) + " " + args); }

std::string last_line(const std::string& out) {
  std::istringstream in(out);
  std::string last;
  for (std::string l; std::getline(in, l);)
    if (!l.empty() && l[0] != '[') last = l;
  return last;
}

const char* kTinyVl = R"(name = "tiny"
threads = 1
log_level = "warn"
[data]
layouts = "single,row2"
questions = ["describe", "where"]
[model.vision]
width = 32
layers = 1
[model.lm]
dim = 64
layers = 2
[train]
steps = 60
batch_size = 16
log_every = 20
ckpt_every = 30
[eval]
n = 8
batches = [1, 4]
)";

}  // namespace

TEST(VlCli, TrainsEvaluatesReportsAndAnswersImagesOfAnySize) {
  rflow::test::TempDir dir;
  const std::string cfg = dir.file("tiny.toml"), run = dir.file("tiny");
  rflow::test::write_text(cfg, "out_dir = \"" + dir.path().string() + "\"\n" + kTinyVl);
  auto r = run_cli("vl train " + cfg);
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* f : {"model/model.safetensors", "baseline/model.safetensors", "eval.json", "report.html", "model/metrics.jsonl"})
    EXPECT_TRUE(fs::exists(fs::path(run) / f)) << f;
  const auto eval = nlohmann::json::parse(rflow::test::read_text(run + "/eval.json"));
  EXPECT_EQ(eval["models"]["model"]["tiling"], "dynamic");
  EXPECT_EQ(eval["models"]["baseline"]["tiling"], "resize");
  EXPECT_EQ(eval["models"]["model"]["by_layout"].size(), 2u);
  EXPECT_FALSE(eval["models"]["model"]["by_layout"]["single"].contains("where")) << "a single garment has no places";
  EXPECT_EQ(eval["decode"]["cached_equals_uncached"], eval["decode"]["compared"]);
  EXPECT_GT(eval["decode"]["kv_compression"].get<double>(), 1.0);
  EXPECT_NE(rflow::test::read_text(run + "/report.html").find("How images are tiled"), std::string::npos);
  ASSERT_TRUE(fs::exists(run + "/examples/row2.png"));  // a test composite to ask about
  r = run_cli("vl ask " + run + " " + run + "/examples/row2.png \"describe this image\" --tiles");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("tiles: 56×28 → global view + 2 × 1 local tiles of 28 pixels"), std::string::npos) << r.out;
  // Rerun: every stage's keys hold, nothing is redone.
  r = run_cli("vl train " + cfg + " --set log_level=info");
  EXPECT_NE(r.out.find("stage train: done before, skipped"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("stage eval: done before, skipped"), std::string::npos) << r.out;
  // Images of any size: a composite-sized one, a wide one, a photo-like odd size.
  for (const auto& [h, w] : std::vector<std::pair<int64_t, int64_t>>{{28, 56}, {28, 84}, {37, 100}}) {
    const std::string png = dir.file("img_" + std::to_string(w) + ".png");
    rflow::io::write_png(png, torch::randint(0, 255, {h, w}, torch::kInt64).to(torch::kUInt8));
    r = run_cli("vl ask " + run + " " + png + " \"What is on the left?\" --tiles");
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("tiles: " + std::to_string(w) + "×" + std::to_string(h)), std::string::npos) << r.out;
    EXPECT_FALSE(last_line(r.out).empty()) << r.out;
  }
  const std::string png = dir.file("img_56.png");
  r = run_cli("vl ask " + run + " " + png + " \"describe this image\" --temperature 0.8 --top-k 5 --top-p 0.9 --seed 3");
  EXPECT_EQ(r.code, 0) << r.out;
  r = run_cli("vl ask " + run + " " + png + " \"describe this image\" --model baseline");
  EXPECT_EQ(r.code, 0) << r.out;
  // Bad inputs, each named.
  const std::string not_image = dir.file("notes.png");
  rflow::test::write_text(not_image, "not a picture");
  const std::vector<std::pair<std::string, std::string>> bad{
      {"vl ask " + run + " " + dir.file("missing.png") + " \"describe this image\"", "missing.png"},
      {"vl ask " + run + " " + not_image + " \"describe this image\"", "notes.png"},
      {"vl ask " + run + " " + png + " \"what colour is the hat\"", "'colour'"},
      {"vl ask " + run + " " + png + " \"?\"", "the question is empty"},
      {"vl ask " + run + " " + png + " \"describe this image\" --model teacher", "unknown model 'teacher'"},
      {"vl ask " + run + " " + png + " \"describe this image\" --top-p 0", "top_p"},
      {"vl ask " + dir.path().string() + " " + png + " \"describe this image\"", "not a vision-language run"},
      {"vl train " + cfg + " --set data.layouts=row9", "row9"},
      {"vl train " + cfg + " --set 'data.questions=[\"colour\"]'", "colour"},
      {"vl train " + cfg + " --set model.vision.patch=5", "multiple of patch"},
      {"vl train " + cfg + " --set tiling.mode=crop", "unknown tiling mode 'crop'"},
  };
  for (const auto& [args, want] : bad) {
    r = run_cli(args);
    EXPECT_NE(r.code, 0) << args;
    EXPECT_NE(r.out.find(want), std::string::npos) << args << "\n" << r.out;
  }
}

// Ctrl-C while a model trains saves a checkpoint at that step and stops; the same command resumes.
TEST(VlCli, CtrlCCheckpointsTrainingAndTheRunResumes) {
  rflow::test::TempDir dir;
  const std::string cfg = dir.file("tiny.toml"), run = dir.file("tiny"), log = dir.file("log.txt");
  rflow::test::write_text(cfg, "out_dir = \"" + dir.path().string() + "\"\n" + kTinyVl);
  const std::vector<std::string> args{RFLOW_CLI, "vl", "train", cfg, "--set", "train.steps=100000", "--set", "train.log_every=5",
                                      "--set", "stages=[\"train\"]"};
  const auto r = rflow::test::interrupt_when_progressing(args, log, fs::path(run) / "model" / "metrics.jsonl");
  EXPECT_TRUE(r.failed) << r.out;
  ASSERT_FALSE(r.step.empty()) << r.out;
  EXPECT_TRUE(fs::exists(fs::path(run) / "model" / "checkpoints" / rflow::test::step_folder(r.step))) << r.out;
  const std::string log2 = dir.file("log2.txt");
  rflow::test::shell(std::string(RFLOW_CLI) + " vl train " + cfg + " --set train.steps=100000 --set train.log_every=5 --set 'stages=[\"train\"]' "
                     "--set log_level=info > " + log2 + " 2>&1 & sleep 4; kill -INT $! ; wait $!");
  const std::string out2 = rflow::test::read_text(log2);
  EXPECT_NE(out2.find("resumed at step " + r.step), std::string::npos) << out2;
}
