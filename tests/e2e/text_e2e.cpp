// End-to-end: text through the CLI as a user meets it — a SentencePiece tokenizer trained on real
// texts and used from the command line; a (tiny) text-to-image run on captioned composites that
// trains, samples, is judged cell by cell and reported; `rflow sample --prompt` and its errors.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <torch/torch.h>

#include "rflow/data/pair_shards.h"
#include "rflow/eval/eval_result.h"
#include "rflow/io/image_file.h"
#include "rflow/io/npy.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

rflow::test::ShellResult run_cli(const std::string& args) { return rflow::test::shell(std::string(RFLOW_CLI) + " " + args); }

// The last line of a command's output (the JSON summary).
nlohmann::json last_json(const std::string& out) {
  const size_t end = out.find_last_not_of('\n');
  const size_t start = out.rfind('\n', end);
  return nlohmann::json::parse(out.substr(start == std::string::npos ? 0 : start + 1, end + 1 - (start == std::string::npos ? 0 : start + 1)));
}

}  // namespace

TEST(TextCli, ATokenizerTrainedOnRealTextsEncodesAndDecodesFromTheCommandLine) {
  RFLOW_TEST_REQUIRES(fs::exists("/usr/share/games/fortunes/fortunes"), "Debian's fortunes-min");
  rflow::test::TempDir dir;
  const std::string tok = dir.file("f.tok");
  auto r = run_cli("tokenizer train /usr/share/games/fortunes/fortunes --kind sentencepiece --vocab-size 500 -o " + tok);
  if (r.code != 0 && r.out.find("AddressSanitizer") != std::string::npos) GTEST_SKIP() << r.out;
  ASSERT_EQ(r.code, 0) << r.out;
  const auto summary = last_json(r.out);
  EXPECT_LE(summary.at("vocab_size").get<int>(), 500);
  EXPECT_EQ(summary.at("unknown").get<int>(), 0);
  EXPECT_LT(summary.at("tokens_per_text").get<double>(), 30.0);
  r = run_cli("tokenizer encode " + tok + " 'A visit to a strange place will bring fresh work.'");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto enc = last_json(r.out);
  EXPECT_EQ(enc.at("decoded"), "A visit to a strange place will bring fresh work.");
  std::string ids;
  for (const auto& i : enc.at("ids")) ids += " " + std::to_string(i.get<int>());
  r = run_cli("tokenizer decode " + tok + ids);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("A visit to a strange place will bring fresh work."), std::string::npos) << r.out;
  // Errors a user meets: a file that is not a tokenizer, an id outside the vocabulary, no text.
  EXPECT_NE(run_cli("tokenizer encode /usr/share/games/fortunes/fortunes x").code, 0);
  EXPECT_NE(run_cli("tokenizer decode " + tok + " 999999").code, 0);
  rflow::test::write_text(dir.file("empty.txt"), "\n%\n");
  r = run_cli("tokenizer train " + dir.file("empty.txt") + " -o " + dir.file("e.tok"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("no text"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir.file("e.tok")));
}

TEST(TextCli, ATinyTextToImageRunTrainsSamplesPromptsAndIsJudgedCellByCell) {
  RFLOW_TEST_REQUIRES(fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"), "no Fashion-MNIST");
  rflow::test::TempDir dir;
  const std::string cfg = std::string(RFLOW_SOURCE_DIR) + "/configs/t2i_fmnist.toml";
  auto r = run_cli("run " + cfg + " --set out_dir=" + dir.path().string() +
                   " --set train.steps=30 --set train.ckpt_every=30 --set model.dit.hidden=32 --set model.dit.depth=2"
                   " --set model.dit.heads=2 --set model.dit.text.word_dim=16 --set model.dit.text.char_dim=16"
                   " --set model.dit.text.heads=2 --set 'stages=[\"train\",\"sample\",\"eval\",\"report\"]'"
                   " --set eval.n=40 --set 'eval.nfe=[1,4]' --set sample.n=8 --set threads=1 --set eval.straightness_steps=4");
  ASSERT_EQ(r.code, 0) << r.out;
  const fs::path run = dir.path() / "t2i_fmnist";
  for (const char* f : {"samples/samples.png", "samples/context.npy", "eval/captions.txt", "eval/reference.png", "report.html"})
    EXPECT_TRUE(fs::exists(run / f)) << f;
  const auto met = rflow::eval::read_model_eval((run / "eval" / "metrics.json").string());
  EXPECT_EQ(met.kind, "composites");
  ASSERT_EQ(met.results.size(), 2u);
  for (const auto& res : met.results) {
    EXPECT_GE(res.score("compositional_accuracy"), 0.0);
    EXPECT_LE(res.score("compositional_accuracy"), res.score("cell_accuracy") + 1e-12);
  }
  // Real composites judged against their captions: the ceiling a model is measured by.
  EXPECT_GT(met.floor_score("compositional_accuracy"), 0.5);
  EXPECT_NE(rflow::test::read_text((run / "report.html").string()).find("Compositional accuracy"), std::string::npos);

  // Prompts: each in turn, one grid column each; "" is the unconditional sample.
  r = run_cli("sample " + run.string() + " --prompt 'a bag left of a sneaker' --prompt '' -n 4 --steps 2 -o " +
              dir.file("p.npy") + " --plot " + dir.file("p.png"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(last_json(r.out).at("prompts").size(), 2u);
  EXPECT_TRUE(fs::exists(dir.file("p.png")));
  r = run_cli("sample " + run.string() + " --prompt 'a bag above a sneaker' -n 2 -o " + dir.file("q.npy"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("describes a col2 composite"), std::string::npos) << r.out;
  r = run_cli("sample " + run.string() + " --prompt 'a hat left of a bag' -n 2 -o " + dir.file("q.npy"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("is not a garment"), std::string::npos) << r.out;
  r = run_cli("sample " + run.string() + " -n 2 -o " + dir.file("q.npy"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("needs prompts"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir.file("q.npy")));

  // A conversation: every reply printed, the transcript page written; a scripted measurement as JSON.
  rflow::test::write_text(dir.file("script.txt"), "# a short talk\na bag left of a sneaker\nmake the left one a sandal\nswap them\n");
  r = run_cli("chat " + run.string() + " --script " + dir.file("script.txt") + " --steps 2 -o " + dir.file("chat.html"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("rflow: Changed the left one: a sandal left of a sneaker."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rflow: Swapped: a sneaker left of a sandal."), std::string::npos) << r.out;
  EXPECT_NE(rflow::test::read_text(dir.file("chat.html")).find("Turn 3"), std::string::npos);
  r = run_cli("chat " + run.string() + " --measure 2 --turns 3 --steps 2");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto m = last_json(r.out);
  EXPECT_EQ(m.at("conversations"), 2);
  EXPECT_EQ(m.at("turns"), 6);
  EXPECT_GT(m.at("images").get<int>(), 0);
  const double acc = m.at("cell_accuracy").get<double>();
  EXPECT_TRUE(acc >= 0.0 && acc <= 1.0) << acc;
  // Holding is on: what an edit did not touch keeps its pixels.
  if (m.at("one_garment_edits").get<int>() > 0) EXPECT_LT(m.at("kept_drift_max_levels").get<double>(), 0.5) << m.dump();
  r = run_cli("chat " + run.string() + " --say hello --rewriter oracle");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("rules"), std::string::npos) << r.out;
}

TEST(TextCli, YourOwnCaptionedImagesTrainAndSampleFromPrompts) {
  rflow::test::TempDir dir;
  const std::vector<std::string> captions{"a red circle", "a blue square", "two green dots", "a red square"};
  fs::create_directories(dir.file("shapes"));
  std::string tsv;
  for (int k = 0; k < 16; ++k) {
    const std::string f = "s" + std::to_string(k) + ".png";
    rflow::io::write_png(dir.file("shapes/" + f), torch::full({8, 8}, 30 + 50 * (k % 4), torch::kUInt8));
    tsv += f + "\t" + captions[static_cast<size_t>(k % 4)] + "\n";
  }
  rflow::test::write_text(dir.file("shapes/captions.tsv"), tsv);
  // 8 words + 4 specials: the DiT's word vocabulary is 12.
  rflow::test::write_text(dir.file("own.toml"),
                          "name = \"own\"\nstages = [\"train\", \"sample\"]\nthreads = 1\n"
                          "[data.source]\nname = \"gaussian\"\n"
                          "[data.target]\nname = \"captioned_images\"\npath = \"" + dir.file("shapes") + "\"\n"
                          "[data.target.captioned_images]\nmax_words = 4\nmax_chars = 16\n"
                          "[model]\narch = \"dit\"\n[model.dit]\npatch = 2\nhidden = 32\ndepth = 2\nheads = 2\n"
                          "[model.dit.text]\nwords = 12\nword_len = 4\nword_dim = 16\nchar_len = 16\nchar_dim = 16\nheads = 2\n"
                          "[method]\nlabel_dropout = 0.1\n"
                          "[train]\nsteps = 20\nbatch_size = 16\nckpt_every = 20\n[sample]\nn = 8\nsteps = 2\nguidance = 2.0\n");
  auto r = run_cli("run " + dir.file("own.toml") + " --set out_dir=" + dir.path().string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(dir.file("own/samples/samples.png")));
  r = run_cli("sample " + dir.file("own") + " --prompt 'a red square' --prompt 'two blue dots' -n 4 --steps 2 -o " + dir.file("p.npy"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(rflow::io::read_npy(dir.file("p.npy")).sizes(), (std::vector<int64_t>{4, 1, 8, 8}));
  r = run_cli("sample " + dir.file("own") + " --prompt 'a purple square' -n 2 -o " + dir.file("q.npy"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("'purple'"), std::string::npos) << r.out;
  // Too small a word vocabulary for the captions is refused with what to set.
  r = run_cli("run " + dir.file("own.toml") + " --set out_dir=" + dir.path().string() + " --set name=small --set model.dit.text.words=6");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("vocabulary"), std::string::npos) << r.out;
}

// InstaFlow's chain on text, tiny: teacher with prompt dropout → guided (caption, noise, image)
// triplets → text-conditioned 2-RF → one-step student, each judged cell by cell. The student's one
// step draws garments closer to real ones than the teacher's one step (FID-proxy of the cells; the
// judge's class reading of the teacher's blurred one-step means is no measure of that).
TEST(TextCli, ATinyTextChainGivesAOneStepStudentThatBeatsTheTeachersOneStep) {
  RFLOW_TEST_REQUIRES(fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"), "no Fashion-MNIST");
  rflow::test::TempDir dir;
  std::string sets = " --set out_dir=" + dir.path().string() + " --set 'stages=[\"train\",\"reflow\",\"distill\",\"eval\"]'"
                     " --set threads=1 --set model.dit.hidden=48 --set model.dit.depth=2 --set model.dit.heads=2"
                     " --set model.dit.text.word_dim=16 --set model.dit.text.char_dim=16 --set model.dit.text.heads=2"
                     " --set model.dit.text.word_layers=1 --set model.dit.text.char_layers=0"
                     " --set reflow.pairs=800 --set reflow.steps=8 --set eval.n=200 --set 'eval.nfe=[1]'"
                     " --set eval.likelihood=false --set eval.straightness_steps=4";
  for (const char* stage : {"train", "reflow.train", "distill.train"})
    sets += std::string(" --set ") + stage + ".batch_size=32 --set " + stage + ".warmup=20 --set " + stage + ".lr=" +
            (std::string(stage) == "train" ? "2e-3" : "1e-3") + " --set " + stage + ".steps=" +
            (std::string(stage) == "train" ? "600" : "300") + " --set " + stage + ".ckpt_every=300";
  auto r = run_cli("run " + std::string(RFLOW_SOURCE_DIR) + "/configs/t2i_fmnist.toml" + sets);
  ASSERT_EQ(r.code, 0) << r.out;
  const fs::path run = dir.path() / "t2i_fmnist";
  auto one_step = [&](const fs::path& model) {
    const auto met = rflow::eval::read_model_eval((model / "eval" / "metrics.json").string());
    EXPECT_EQ(met.results.size(), 1u);
    return met.results.at(0);
  };
  const auto teacher = one_step(run), rf2 = one_step(run / "2rf"), student = one_step(run / "distill_2rf");
  std::cout << "one step, FID-proxy of cells / compositional accuracy: teacher " << teacher.score("fid_proxy") << " / "
            << teacher.score("compositional_accuracy") << ", 2-RF " << rf2.score("fid_proxy") << ", student "
            << student.score("fid_proxy") << " / " << student.score("compositional_accuracy") << "\n";
  EXPECT_LT(student.score("fid_proxy"), 0.95 * teacher.score("fid_proxy"));
  EXPECT_GT(student.score("cell_accuracy"), 0.25);  // it follows the captions (chance: 0.1)
}

// One DiT across aspect ratios through the whole CLI: training batches, reflow shards and the
// eval each in one layout; the eval and report per layout; prompts of any layout the model draws
// (one per call); a conversation that grows a single garment into a row.
TEST(TextCli, OneModelOfSeveralLayoutsIsBucketedThroughEveryStageAndDrawsEachLayout) {
  RFLOW_TEST_REQUIRES(fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"), "no Fashion-MNIST");
  rflow::test::TempDir dir;
  auto r = run_cli("run " + std::string(RFLOW_SOURCE_DIR) + "/configs/t2i_fmnist.toml --set out_dir=" + dir.path().string() +
                   " --set data.target.fashion_composites.layout=single,row2,col2 --set threads=1"
                   " --set train.steps=20 --set train.ckpt_every=20 --set model.dit.hidden=32 --set model.dit.depth=2"
                   " --set model.dit.heads=2 --set model.dit.text.word_dim=16 --set model.dit.text.char_dim=16"
                   " --set model.dit.text.heads=2 --set 'stages=[\"train\",\"reflow\",\"distill\",\"eval\",\"report\"]'"
                   " --set reflow.pairs=60 --set reflow.shard_size=20 --set reflow.steps=2 --set reflow.train.steps=10"
                   " --set reflow.train.ckpt_every=10 --set distill.train.steps=10 --set distill.train.ckpt_every=10"
                   " --set eval.n=20 --set 'eval.nfe=[2]' --set eval.straightness_steps=2");
  ASSERT_EQ(r.code, 0) << r.out;
  const fs::path run = dir.path() / "t2i_fmnist";
  // Pair shards in turn: single, row2, col2 (shard i in layout i mod 3).
  const std::vector<std::vector<int64_t>> shapes{{20, 1, 28, 28}, {20, 1, 28, 56}, {20, 1, 56, 28}};
  for (int i = 0; i < 3; ++i) {
    const auto shard = rflow::read_pair_shard(rflow::pair_shard_path((run / "pairs").string(), i));
    EXPECT_EQ(shard.z1.sizes().vec(), shapes[static_cast<size_t>(i)]);
  }
  // Every model evaluated in every layout, each from draws of its own layout.
  const std::string report = rflow::test::read_text((run / "report.html").string());
  for (const fs::path model : {run, run / "2rf", run / "distill_2rf"})
    for (const char* layout : {"single", "row2", "col2"}) {
      const fs::path ev = model / "eval" / layout;
      ASSERT_TRUE(fs::exists(ev / "metrics.json")) << ev;
      // The one-step student at its one step, the others at the eval's NFE.
      EXPECT_TRUE(fs::exists(ev / "samples" / (model == run / "distill_2rf" ? "euler_nfe1.png" : "euler_nfe2.png"))) << ev;
      EXPECT_NE(report.find(std::string("· ") + layout), std::string::npos) << layout;
    }
  EXPECT_NE(report.find("real composites (col2)"), std::string::npos);
  // Prompts of any of its layouts, one layout per call.
  r = run_cli("sample " + run.string() + " --prompt 'a bag above a coat' -n 3 --steps 2 -o " + dir.file("c.npy"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(rflow::io::read_npy(dir.file("c.npy")).sizes(), (std::vector<int64_t>{3, 1, 56, 28}));
  r = run_cli("sample " + run.string() + " --prompt 'a bag above a coat' --prompt 'a bag' -n 2 -o " + dir.file("d.npy"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("different layouts (col2, single)"), std::string::npos) << r.out;
  r = run_cli("sample " + run.string() + " --prompt 'a bag left of a coat left of a bag' -n 2 -o " + dir.file("d.npy"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("this model draws single, row2, col2"), std::string::npos) << r.out;
  // The conversation may change the layout now: a single bag, then a sneaker beside it.
  r = run_cli("chat " + run.string() + " --say 'a bag' --say 'now put a sneaker on the right' --steps 2 -o " + dir.file("chat.html"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("rflow: Added: a bag left of a sneaker."), std::string::npos) << r.out;
}
