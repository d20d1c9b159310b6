// POST /v1/chat replays the conversation it is sent as `rflow chat` plays it: every turn's reply,
// prompt, redrawn cells and picture (the PNG of the library's image, base64) are the library's, the
// same request gives the same bytes, and malformed conversations are 400s naming the field.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/io/base64.h"
#include "rflow/io/image_file.h"
#include "rflow/pipeline/chat/conversation.h"
#include "rflow/pipeline/pipeline.h"
#include "rflow/serve/endpoint.h"
#include "rflow/serve/serve_metrics.h"
#include "rflow/serve/serve_options.h"
#include "rflow/serve/served_models.h"
#include "tests/test_util.h"

using namespace rflow;

namespace {

namespace fs = std::filesystem;

// A text-to-image run barely trained: what is checked here holds whatever the weights.
class ServeChatTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")) return;
    dir_ = new test::TempDir;
    RunConfig cfg = load_run_config(std::string(RFLOW_SOURCE_DIR) + "/configs/t2i_fmnist.toml",
                                    {"out_dir=" + dir_->path().string(), "stages=[\"train\"]", "train.steps=2",
                                     "train.ckpt_every=2", "model.dit.hidden=32", "model.dit.depth=1", "model.dit.heads=2",
                                     "model.dit.text.word_dim=16", "model.dit.text.char_dim=16", "model.dit.text.heads=2",
                                     "threads=1"});
    models_ = new serve::ServedModels({run_pipeline(cfg)}, torch::kCPU);
  }
  static void TearDownTestSuite() {
    delete models_;
    delete dir_;
  }
  void SetUp() override { RFLOW_TEST_REQUIRES(models_ != nullptr, "no Fashion-MNIST"); }
  serve::Response post(const std::string& body) {
    serve::ServeContext ctx{*models_, options_, metrics_};
    return serve::handle("POST", "/v1/chat", serve::Request{body, {}, ""}, ctx);
  }
  serve::ServeOptions options_;
  serve::ServeMetrics metrics_;
  static test::TempDir* dir_;
  static serve::ServedModels* models_;
};
test::TempDir* ServeChatTest::dir_ = nullptr;
serve::ServedModels* ServeChatTest::models_ = nullptr;

}  // namespace

TEST_F(ServeChatTest, EveryTurnIsTheLibrarysTurnAndTheSameConversationGivesTheSameBytes) {
  const std::vector<std::string> said{"a bag left of a sneaker", "make the left one a sandal", "put a coat on the right", "undo"};
  const std::string body = nlohmann::json{{"messages", said}, {"seed", 3}, {"steps", 4}}.dump();
  const serve::Response r = post(body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(post(body).body, r.body);
  const auto j = nlohmann::json::parse(r.body);
  ASSERT_EQ(j["turns"].size(), said.size());
  chat::ChatOptions opt;
  opt.seed = 3, opt.solve.steps = 4;
  opt.solve.max_nfe = 4 * options_.max_steps;
  chat::Conversation conv(models_->all()[0]->m, opt);
  for (size_t i = 0; i < said.size(); ++i) {
    const chat::Turn& t = conv.say(said[i]);
    const auto& got = j["turns"][i];
    EXPECT_EQ(got["message"], said[i]);
    EXPECT_EQ(got["reply"], t.reply) << i;
    EXPECT_EQ(got["prompt"], t.prompt) << i;
    EXPECT_EQ(got["redrawn"], nlohmann::json(t.redrawn)) << i;
    EXPECT_EQ(got["image_png"], io::base64(io::encode_png(io::image_grid(t.image.unsqueeze(0), 1, 0)))) << i;
  }
  EXPECT_EQ(j["turns"][1]["redrawn"], nlohmann::json({true, false}));
  EXPECT_FALSE(j["turns"][2]["changed"].get<bool>());  // a row of two has no third place
  EXPECT_EQ(j["turns"][3]["prompt"], "a bag left of a sneaker");
}

TEST_F(ServeChatTest, MalformedConversationsAreRefusedNamingTheField) {
  auto where = [](const serve::Response& r) {
    EXPECT_EQ(r.status, 400) << r.body;
    return nlohmann::json::parse(r.body)["error"]["where"].get<std::string>();
  };
  EXPECT_EQ(where(post("{}")), "request field 'messages'");
  EXPECT_EQ(where(post(R"({"messages": [1]})")), "request field 'messages'");
  EXPECT_EQ(where(post(nlohmann::json{{"messages", std::vector<std::string>(33, "undo")}}.dump())), "request field 'messages'");
  EXPECT_EQ(where(post(R"({"messages": ["a bag"], "hold": "yes"})")), "request field 'hold'");
  EXPECT_EQ(where(post(R"({"messages": ["a bag"], "rewriter": "oracle"})")), "request field 'rewriter'");
  EXPECT_EQ(where(post(R"({"messages": ["a bag"], "labels": [1]})")), "request field 'labels'");
}
