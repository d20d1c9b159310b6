// A conversation with a (barely trained) text-to-image run: what must hold whatever the weights —
// held garments keep their pixels exactly (also when a swap moves them), edited cells are redrawn,
// the same seed gives the same pictures and another seed others, undo shows the earlier image, a
// layout the model does not draw is refused in words, and the transcript page shows every turn.
#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/pipeline/chat/conversation.h"
#include "rflow/pipeline/chat/transcript_page.h"
#include "rflow/pipeline/pipeline.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using namespace rflow;
using namespace rflow::chat;

namespace {

class ChatTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")) return;
    dir_ = new test::TempDir;
    RunConfig cfg = load_run_config(std::string(RFLOW_SOURCE_DIR) + "/configs/t2i_fmnist.toml",
                                    {"out_dir=" + dir_->path().string(), "stages=[\"train\"]", "train.steps=12", "train.lr=3e-3", "train.warmup=0",
                                     "train.ckpt_every=12", "model.dit.hidden=32", "model.dit.depth=2", "model.dit.heads=2",
                                     "model.dit.text.word_dim=16", "model.dit.text.char_dim=16", "model.dit.text.heads=2",
                                     "threads=1"});
    model_ = new LoadedModel(load_model(run_pipeline(cfg), true, torch::kCPU));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete dir_;
  }
  void SetUp() override {
    RFLOW_TEST_REQUIRES(model_ != nullptr, "no Fashion-MNIST");
  }
  static ChatOptions fast(int64_t seed = 3) {
    ChatOptions o;
    o.seed = seed;
    o.solve.steps = 4;
    return o;
  }
  // Cell i of a row2 image.
  static at::Tensor cell(const at::Tensor& img, int64_t i) { return img.narrow(2, 28 * i, 28); }
  static test::TempDir* dir_;
  static LoadedModel* model_;
};
test::TempDir* ChatTest::dir_ = nullptr;
LoadedModel* ChatTest::model_ = nullptr;

}  // namespace

TEST_F(ChatTest, AnEditRedrawsOnlyTheEditedCellAndHeldCellsKeepTheirPixels) {
  Conversation c(*model_, fast());
  const at::Tensor first = c.say("a bag left of a sneaker").image.clone();
  ASSERT_EQ(first.sizes(), (std::vector<int64_t>{1, 28, 56}));
  const Turn& t = c.say("make the left one a sandal");
  EXPECT_TRUE(t.drawn);
  EXPECT_EQ(t.redrawn, (std::vector<bool>{true, false}));
  EXPECT_EQ(t.prompt, "a sandal left of a sneaker");
  EXPECT_LT((cell(t.image, 1) - cell(first, 1)).abs().max().item<double>(), 1e-5);
  EXPECT_GT((cell(t.image, 0) - cell(first, 0)).abs().max().item<double>(), 1e-3);
  // A swap moves both garments: each keeps its pixels in its new place.
  const at::Tensor before = t.image.clone();
  const Turn& s = c.say("swap them");
  EXPECT_EQ(s.redrawn, (std::vector<bool>{false, false}));
  EXPECT_LT((cell(s.image, 0) - cell(before, 1)).abs().max().item<double>(), 1e-5);
  EXPECT_LT((cell(s.image, 1) - cell(before, 0)).abs().max().item<double>(), 1e-5);
}

TEST_F(ChatTest, TheSeedFixesThePicturesAndWithoutHoldingOnlyTheNoiseIsKept) {
  Conversation a(*model_, fast(3)), b(*model_, fast(3)), other(*model_, fast(4));
  const at::Tensor ia = a.say("a coat left of a bag").image, ib = b.say("a coat left of a bag").image;
  EXPECT_TRUE(torch::equal(ia, ib));
  EXPECT_GT((other.say("a coat left of a bag").image - ia).abs().max().item<double>(), 0.05);
  ChatOptions loose = fast(3);
  loose.hold = false;
  Conversation l(*model_, loose);
  EXPECT_TRUE(torch::equal(l.say("a coat left of a bag").image, ia));  // same seed, same identities, same noise
  const Turn& t = l.say("make the left one a shirt");
  EXPECT_EQ(t.redrawn, (std::vector<bool>{true, true}));
  EXPECT_EQ(t.image.sizes(), ia.sizes());
}

TEST_F(ChatTest, UndoShowsTheEarlierImageAndImpossibleLayoutsAreRefusedInWords) {
  Conversation c(*model_, fast());
  const at::Tensor first = c.say("a coat left of a bag").image.clone();
  c.say("make the right one a dress");
  const Turn& u = c.say("undo");
  EXPECT_FALSE(u.drawn);
  EXPECT_EQ(u.prompt, "a coat left of a bag");
  EXPECT_TRUE(torch::equal(u.image, first));
  const Turn& r = c.say("put a sandal on the right");
  EXPECT_FALSE(r.changed);
  EXPECT_NE(r.reply.find("row2"), std::string::npos) << r.reply;
  EXPECT_EQ(c.scene().caption(), "a coat left of a bag");
  EXPECT_TRUE(c.say("start over").scene.empty());
  EXPECT_FALSE(c.turns().back().image.defined());
  c.say("a bag left of a sandal");
  EXPECT_EQ(c.say("undo").reply, "Back to the start.");
  EXPECT_EQ(c.say("undo").reply, "Back to: a coat left of a bag.");
  Conversation fresh(*model_, fast());
  const Turn& nothing = fresh.say("undo");
  EXPECT_EQ(nothing.reply, "Nothing to undo.");
  EXPECT_FALSE(nothing.changed);
  const std::string page = transcript_html(c.turns(), "chat");
  EXPECT_NE(page.find("make the right one a dress"), std::string::npos);
  EXPECT_NE(page.find("data:image/png;base64,"), std::string::npos);
  EXPECT_NE(page.find("cells drawn: 2"), std::string::npos);
  const std::string path = (dir_->path() / "chat.html").string();
  save_transcript(path, c.turns(), "chat");
  EXPECT_EQ(test::read_text(path), page);
}

TEST_F(ChatTest, AnUnknownRewriterIsRefusedBeforeAnyTurn) {
  ChatOptions o = fast();
  o.rewriter = "oracle";
  EXPECT_THROW(Conversation(*model_, o), Error);
}
