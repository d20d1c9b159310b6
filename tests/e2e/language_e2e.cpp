// End-to-end: Language RF through the CLI as a user meets it — a tiny text run on the grammar corpus
// (autoencoder with a joint phase, generation and edit flows with reflow, eval, report), then
// `rflow text sample` and `rflow text edit` on it, and every kind of bad input refused with a
// message that names the problem.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

rflow::test::ShellResult run_cli(const std::string& args) { return rflow::test::shell(std::string(RFLOW_CLI) + " " + args); }

// Output lines that are not log lines (the CLI logs to stderr, which the shell merges in).
std::vector<std::string> plain_lines(const std::string& out) {
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string l; std::getline(in, l);)
    if (!l.empty() && l[0] != '[') lines.push_back(l);
  return lines;
}

const char* kTinyRun = R"(name = "tiny"
threads = 1
log_level = "warn"
control = ["sentiment"]
edit = "sentiment"
[corpus]
train_n = 600
test_n = 100
[autoencoder]
dim = 32
latents = 2
latent_dim = 4
[train]
steps = 150
joint_steps = 30
batch_size = 64
anneal_steps = 100
log_every = 50
[generate.train]
steps = 200
[generate.reflow]
pairs = 500
[generate.reflow.train]
steps = 100
[transfer.train]
steps = 200
[transfer.reflow]
pairs = 500
[transfer.reflow.train]
steps = 100
[eval]
nfe = [1, 4]
n = 60
baseline_steps = 20
)";

}  // namespace

TEST(LanguageCli, ATextRunTrainsSamplesEditsAndRefusesBadInput) {
  rflow::test::TempDir dir;
  const std::string cfg = dir.file("tiny.toml"), run = dir.file("tiny");
  rflow::test::write_text(cfg, "out_dir = \"" + dir.path().string() + "\"\n" + kTinyRun);
  auto r = run_cli("text train " + cfg);
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* f : {"tokenizer.tok", "autoencoder/model.safetensors", "latents/train.npy", "latents/test_labels.npy",
                        "flows/generate/2rf", "flows/to_positive/2rf", "flows/to_negative", "eval.json", "report.html"})
    EXPECT_TRUE(fs::exists(fs::path(run) / f)) << f;
  const auto eval = nlohmann::json::parse(rflow::test::read_text(run + "/eval.json"));
  ASSERT_TRUE(eval.contains("generate") && eval.contains("transfer")) << eval.dump();
  int models = 0;
  for (const auto& row : eval["generate"]["rows"]) {
    EXPECT_GE(row.at("fluency").get<double>(), 0.0);
    EXPECT_LE(row.at("control_accuracy").get<double>(), row.at("fluency").get<double>()) << "a hit must parse";
    models += row.value("model", "") == "2rf";
  }
  EXPECT_EQ(models, 2) << "2-RF at NFE 1 and 4";
  for (const auto& row : eval["transfer"]["rows"]) {
    EXPECT_GE(row.at("preservation").get<double>(), 0.0);
    EXPECT_LE(row.at("preservation").get<double>(), 1.0);
  }
  EXPECT_GT(eval["speed"].at("speedup_flow").get<double>(), 1.0);
  EXPECT_NE(rflow::test::read_text(run + "/report.html").find("Edits by"), std::string::npos);

  r = run_cli("text sample " + run + " --attr sentiment=positive -n 3 --steps 1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(plain_lines(r.out).size(), 3u) << r.out;
  r = run_cli("text edit " + run + " --to positive \"the food was cold\" \"the staff seemed rude at night\"");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(plain_lines(r.out).size(), 2u) << r.out;
  const std::string in = dir.file("in.txt"), out = dir.file("out.txt");
  rflow::test::write_text(in, "the food was cold\nthe room is dirty\n");
  r = run_cli("text edit " + run + " --to positive --file " + in + " -o " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(plain_lines(rflow::test::read_text(out)).size(), 2u);

  const std::vector<std::pair<std::string, std::string>> bad{
      {"text edit " + run + " --to happy \"the food was cold\"", "has no value 'happy'"},
      {"text edit " + run + " --to positive \"the food was chilly\"", "'chilly' is not in the run's vocabulary"},
      {"text edit " + run + " --to positive \"\"", "empty sentence"},
      {"text edit " + run + " --to positive \"the food was cold the food was cold the food was cold the food was cold the food was cold\"", "20 words, longer than the 16 allowed"},
      {"text sample " + run + " --attr mood=happy", "not a control attribute"},
      {"text sample " + run + " --attr sentiment=happy", "has no value 'happy'"},
  };
  for (const auto& [args, want] : bad) {
    r = run_cli(args);
    EXPECT_NE(r.code, 0) << args;
    EXPECT_NE(r.out.find(want), std::string::npos) << args << "\n" << r.out;
  }
  // A rerun finds every stage done; a changed eval setting reruns only what reads it.
  r = run_cli("text train " + run + " --set log_level=info");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("stage report: done before, skipped"), std::string::npos) << r.out;
  r = run_cli("text train " + run + " --set log_level=info --set eval.nfe=[1]");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("stage transfer: done before, skipped"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("stage eval: start"), std::string::npos) << r.out;
  const auto again = nlohmann::json::parse(rflow::test::read_text(run + "/eval.json"));
  for (const auto& row : again["generate"]["rows"]) EXPECT_TRUE(row.contains("baseline") || row["nfe"] == 1) << row.dump();
}

// A user's own labelled sentences: no grammar to parse them, so the run is scored by reconstruction
// and by the perplexity of what it generates under a separately trained language model.
TEST(LanguageCli, AUsersLabelledFileTrainsAndIsScoredByAJudgeLanguageModel) {
  rflow::test::TempDir dir;
  const std::string data = dir.file("reviews.txt"), cfg = dir.file("mine.toml"), run = dir.file("mine");
  std::string lines;
  const std::vector<std::string> good{"lovely", "friendly", "great", "tasty"}, bad{"awful", "rude", "cold", "bland"};
  const std::vector<std::string> things{"soup", "bread", "staff", "tea", "room", "cake", "music", "chef"};
  for (size_t i = 0; i < 64; ++i) {  // every (thing, adjective, mood): each word in many sentences
    const bool pos = i / 32 == 0;
    lines += std::string("mood=") + (pos ? "good" : "bad") + "\tour " + things[i % 8] + " was " + (pos ? good : bad)[(i / 8) % 4] + " today\n";
  }
  rflow::test::write_text(data, lines);
  rflow::test::write_text(cfg, "out_dir = \"" + dir.path().string() + "\"\nname = \"mine\"\nthreads = 1\nlog_level = \"warn\"\n"
                               "control = [\"mood\"]\nedit = \"mood\"\n[corpus]\nname = \"file\"\npath = \"" + data + "\"\n"
                               "test_fraction = 0.25\n[autoencoder]\ndim = 32\nlatent_dim = 4\n[train]\nsteps = 100\njoint_steps = 10\n"
                               "batch_size = 32\n[generate.train]\nsteps = 100\n[generate.reflow]\npairs = 200\n[generate.reflow.train]\n"
                               "steps = 50\n[transfer.train]\nsteps = 100\n[transfer.reflow]\npairs = 200\n[transfer.reflow.train]\n"
                               "steps = 50\n[eval]\nnfe = [1]\nn = 20\nbaseline_steps = 10\nlm_steps = 30\n");
  auto r = run_cli("text train " + cfg);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto eval = nlohmann::json::parse(rflow::test::read_text(run + "/eval.json"));
  EXPECT_FALSE(eval.at("grammar").get<bool>());
  EXPECT_GT(eval.at("judge").at("perplexity_real_test").get<double>(), 1.0);
  for (const auto& row : eval.at("generate").at("rows")) {
    EXPECT_GT(row.at("perplexity").get<double>(), 1.0) << row.dump();
    EXPECT_FALSE(row.contains("fluency")) << "no grammar, no parse rate";
  }
  EXPECT_TRUE(fs::exists(run + "/latents/judge_lm_30.safetensors"));
  r = run_cli("text edit " + run + " --to good \"our tea was cold today\"");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(plain_lines(r.out).size(), 1u) << r.out;
}

// Ctrl-C while the autoencoder trains saves a checkpoint at that step and stops with a message; the
// same command resumes from it and finishes.
TEST(LanguageCli, CtrlCCheckpointsTheAutoencoderAndTheRunResumes) {
  rflow::test::TempDir dir;
  const std::string cfg = dir.file("tiny.toml"), run = dir.file("tiny"), log = dir.file("log.txt");
  rflow::test::write_text(cfg, "out_dir = \"" + dir.path().string() + "\"\n" + kTinyRun);
  const std::vector<std::string> args{RFLOW_CLI, "text", "train", cfg, "--set", "train.steps=100000", "--set", "train.log_every=20",
                                      "--set", "stages=[\"autoencoder\"]"};
  const auto r0 = rflow::test::interrupt_when_progressing(args, log, fs::path(run) / "autoencoder" / "metrics.jsonl");
  EXPECT_TRUE(r0.failed) << r0.out;
  ASSERT_FALSE(r0.step.empty()) << r0.out;
  const std::string step = r0.step;
  EXPECT_TRUE(fs::exists(fs::path(run) / "autoencoder" / "checkpoints" / rflow::test::step_folder(step))) << r0.out;
  // Resumed with fewer steps to go: it picks up at the saved step.
  const std::string log2 = dir.file("log2.txt");
  rflow::test::shell(std::string(RFLOW_CLI) + " text train " + cfg + " --set train.steps=100000 --set train.log_every=20 --set 'stages=[\"autoencoder\"]' "
                     "--set log_level=info > " + log2 + " 2>&1 & sleep 6; kill -INT $! ; wait $!");
  const auto r = rflow::test::ShellResult{0, rflow::test::read_text(log2)};
  EXPECT_NE(r.out.find("resumed at step " + step), std::string::npos) << r.out;
}
