// End-to-end: a tiny JanusFlow run through the ordinary pipeline — trained on both tasks, reflowed
// and distilled into a one-step student on its generation path, sampled from prompts, evaluated by
// the judge — and its understanding path through `rflow vl ask` and `rflow vl eval`.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

rflow::test::ShellResult run_cli(const std::string& args) { return rflow::test::shell(std::string(RFLOW_CLI) + " " + args); }

const char* kTinyJanusFlow = R"(name = "tiny_jf"
threads = 1
log_level = "warn"
stages = ["train", "reflow", "distill", "sample", "eval"]
[data.source]
name = "gaussian"
[data.target]
name = "fashion_composites"
[data.target.fashion_composites]
layout = "row2"
max_words = 12
[model]
arch = "janusflow"
[model.janusflow]
gen_channels = 16
gen_blocks = 1
grid_positions = true
repa_layer = 1
[model.janusflow.lm]
dim = 32
layers = 2
dense_hidden = 64
[model.janusflow.lm.mla]
heads = 2
kv_rank = 8
nope_dim = 8
rope_dim = 4
v_dim = 8
[model.janusflow.lm.moe]
experts = 4
hidden = 32
[model.janusflow.vision]
width = 16
layers = 1
heads = 2
[method]
name = "janusflow"
label_dropout = 0.1
[method.janusflow]
und_ratio = 0.5
[train]
steps = 20
batch_size = 8
ema_decay = 0.9
log_every = 10
[reflow]
rounds = 1
pairs = 16
steps = 2
guidance = 2.0
[reflow.train]
steps = 10
batch_size = 8
log_every = 5
[distill]
from = [2]
[distill.train]
steps = 10
batch_size = 8
log_every = 5
[sample]
steps = 2
n = 4
guidance = 2.0
[eval]
solvers = ["euler"]
nfe = [1, 2]
n = 8
guidance = 2.0
)";

}  // namespace

TEST(JanusFlowCli, TrainsBothTasksDistilsAOneStepStudentAndAnswers) {
  rflow::test::TempDir dir;
  const std::string cfg = dir.file("tiny.toml"), run = dir.file("tiny_jf");
  rflow::test::write_text(cfg, "out_dir = \"" + dir.path().string() + "\"\n" + kTinyJanusFlow);
  auto r = run_cli("run " + cfg);
  ASSERT_EQ(r.code, 0) << r.out;
  // Both losses were logged through the ordinary trainer.
  const std::string metrics = rflow::test::read_text(run + "/metrics.jsonl");
  for (const char* k : {"\"rf_loss\"", "\"repa_loss\"", "\"und_loss\"", "\"und_accuracy\""})
    EXPECT_NE(metrics.find(k), std::string::npos) << k;
  EXPECT_TRUE(fs::exists(run + "/distill_2rf"));
  // Generation from prompts, the teacher with guidance and the one-step student.
  r = run_cli("sample " + run + " --prompt \"a bag left of a sneaker\" -n 2 --steps 3 --guidance 2 -o " + dir.file("t.npy"));
  EXPECT_EQ(r.code, 0) << r.out;
  r = run_cli("sample " + run + "/distill_2rf --prompt \"a bag left of a sneaker\" -n 2 --steps 1 -o " + dir.file("s.npy"));
  EXPECT_EQ(r.code, 0) << r.out;
  r = run_cli("sample " + run + " --prompt \"a bag above a sneaker\" -n 2");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("col2"), std::string::npos) << r.out;
  // Understanding through the same model.
  const std::string png = dir.file("img.png");
  r = run_cli("sample " + run + " --prompt \"a coat left of a bag\" -n 1 --steps 2 --plot " + png);
  ASSERT_EQ(r.code, 0) << r.out;
  r = run_cli("vl ask " + run + " " + png + " \"what is on the left\"");
  EXPECT_EQ(r.code, 0) << r.out;
  r = run_cli("vl ask " + run + " " + png + " \"describe this image\" --model baseline");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("no resize baseline"), std::string::npos) << r.out;
  r = run_cli("vl eval " + run);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto u = nlohmann::json::parse(rflow::test::read_text(run + "/understanding.json"));
  EXPECT_GE(u["models"]["model"]["accuracy"].get<double>(), 0.0);
  EXPECT_EQ(u["decode"]["cached_equals_uncached"], u["decode"]["compared"]);
  const std::string page = rflow::test::read_text(run + "/understanding.html");
  EXPECT_NE(page.find("both tasks"), std::string::npos);
  EXPECT_NE(page.find("How images are tiled"), std::string::npos);
}
