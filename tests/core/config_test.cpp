#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "rflow/core/config.h"
#include "rflow/core/error.h"
#include "rflow/core/registry.h"
#include "rflow/methods/distill.h"
#include "rflow/nn/mlp.h"
#include "rflow/nn/unet.h"
#include "rflow/pipeline/run_config.h"
#include "tests/test_util.h"

using namespace rflow;

namespace {
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST(Config, TomlSetsNestedFieldsAndOverridesWin) {
  test::TempDir dir;
  test::write_text(dir.file("c.toml"),
                   "name = \"x\"\n[train]\nlr = 0.01\nsteps = 7\n[eval]\nnfe = [1, 3]\n"
                   "[data.target]\nname = \"moons\"\n[data.target.gaussian]\nmean = [1, 2.5]\n");
  RunConfig cfg = load_run_config(dir.file("c.toml"), {"train.lr=5e-4", "data.source.name=gaussian"});
  EXPECT_EQ(cfg.name, "x");
  EXPECT_DOUBLE_EQ(cfg.train.lr, 5e-4);
  EXPECT_EQ(cfg.train.steps, 7);
  EXPECT_EQ(cfg.eval.nfe, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(cfg.data.target.name, "moons");
  EXPECT_EQ(cfg.data.target.get<GaussianOptions>("gaussian").mean, (std::vector<double>{1.0, 2.5}));
}

TEST(Config, UnknownKeySuggestsNearest) {
  test::TempDir dir;
  test::write_text(dir.file("c.toml"), "[train]\nlearning_rate = 0.1\nlrr = 3\n");
  std::string msg = error_of([&] { load_run_config(dir.file("c.toml"), {}); });
  EXPECT_NE(msg.find("unknown config key 'train.learning_rate'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("c.toml"), std::string::npos) << msg;
  msg = error_of([&] { load_run_config("", {"train.lrr=1"}); });
  EXPECT_NE(msg.find("did you mean 'train.lr'"), std::string::npos) << msg;
  msg = error_of([&] { load_run_config("", {"model.hiden=3"}); });
  EXPECT_NE(msg.find("model.mlp.hidden"), std::string::npos) << msg;
}

// The section and the leaf are compared apart: a misspelt section with the right leaf is one
// edit away, not as far as any other section holding a key of that leaf.
TEST(Config, SuggestionsWeighTheSectionAndTheLeafApart) {
  RunConfig cfg;
  const auto fields = config::fields_of(cfg);
  EXPECT_EQ(config::nearest_key(fields, "trian.steps"), "train.steps");
  EXPECT_EQ(config::nearest_key(fields, "train.stpes"), "train.steps");
  EXPECT_EQ(config::nearest_key(fields, "method.distil.steps"), "method.distill.steps");
  EXPECT_EQ(config::nearest_key(fields, "lr"), "train.lr");
  EXPECT_EQ(config::nearest_key(fields, "model.hiden"), "model.mlp.hidden");
  EXPECT_EQ(config::nearest_key(fields, "reflow.train.stesp"), "reflow.train.steps");
  EXPECT_EQ(config::nearest_key(fields, "completely.unrelated.thing"), "");
}

TEST(EditDistance, AnAdjacentTranspositionIsOneEdit) {
  EXPECT_EQ(edit_distance("trian", "train"), 1u);
  EXPECT_EQ(edit_distance("smaple", "sample"), 1u);
  EXPECT_EQ(edit_distance("abc", "abc"), 0u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("ca", "abc"), 3u);  // optimal string alignment: no edits inside a swap
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

// Every unknown key and wrong type of a file in one error, in the file's order.
TEST(Config, EveryProblemOfAFileIsReportedAtOnce) {
  test::TempDir dir;
  test::write_text(dir.file("c.toml"), "[trian]\nsteps = 3\n[model]\nhiden = 3\n[eval]\nn = \"x\"\n[train]\nlr = 1e-3\n");
  const std::string msg = error_of([&] { load_run_config(dir.file("c.toml"), {}); });
  EXPECT_NE(msg.find("3 problems"), std::string::npos) << msg;
  const auto a = msg.find("c.toml:2: unknown config key 'trian.steps' (did you mean 'train.steps'?)");
  const auto b = msg.find("c.toml:4: unknown config key 'model.hiden' (did you mean 'model.mlp.hidden'?)");
  const auto c = msg.find("c.toml:6: wrong type for 'eval.n'");
  ASSERT_NE(a, std::string::npos) << msg;
  ASSERT_NE(b, std::string::npos) << msg;
  ASSERT_NE(c, std::string::npos) << msg;
  EXPECT_TRUE(a < b && b < c) << msg;
  // A file that is not a config at all: the first twenty, and a count of the rest.
  std::string many = "[train]\n";
  for (int i = 0; i < 25; ++i) many += "unknown_" + std::to_string(i) + " = 1\n";
  test::write_text(dir.file("many.toml"), many);
  const std::string m = error_of([&] { load_run_config(dir.file("many.toml"), {}); });
  EXPECT_NE(m.find("25 problems"), std::string::npos) << m;
  EXPECT_NE(m.find("and 5 more"), std::string::npos) << m;
}

TEST(Config, RetiredKeysStillLoadIntoTheirNewSections) {
  // Configs and checkpoints written before each backbone owned its options.
  test::TempDir dir;
  test::write_text(dir.file("old.toml"), "[model]\narch = \"unet\"\nchannels = 24\nheads = 2\nhidden = 77\n");
  RunConfig cfg = load_run_config(dir.file("old.toml"), {});
  EXPECT_EQ(cfg.model.get<UNetOptions>("unet").channels, 24);
  EXPECT_EQ(cfg.model.get<UNetOptions>("unet").heads, 2);
  EXPECT_EQ(cfg.model.get<MlpOptions>("mlp").hidden, 77);
  // The dump has only the new keys, and reads back to the same config.
  const std::string json = to_json(cfg);
  auto j = nlohmann::json::parse(json);
  EXPECT_EQ(j["model"]["unet"]["channels"], 24);
  EXPECT_FALSE(j["model"].contains("channels"));
  EXPECT_FALSE(j["model"].contains("hidden"));
  RunConfig back = run_config_from_json(json, "dump");
  EXPECT_EQ(back.model.get<UNetOptions>("unet").channels, 24);
  EXPECT_EQ(to_json(back), json);
  // Old flat JSON (a checkpoint's config.json) loads too.
  RunConfig flat = run_config_from_json(R"({"model": {"arch": "mlp", "hidden": 40, "depth": 5}})", "old.json");
  EXPECT_EQ(flat.model.get<MlpOptions>("mlp").hidden, 40);
  EXPECT_EQ(flat.model.get<MlpOptions>("mlp").depth, 5);
  // A section for every registered backbone and method, whichever is selected.
  auto fields = config::fields_of(cfg);
  auto has = [&](const std::string& k) {
    return std::any_of(fields.begin(), fields.end(), [&](const config::Field& f) { return f.key == k && f.alias_of.empty(); });
  };
  EXPECT_TRUE(has("model.mlp.depth") && has("model.unet.norm_groups") && has("method.distill.loss"));
  EXPECT_FALSE(has("model.hidden"));
}

TEST(Config, WrongTypesAndMalformedTomlAreClearErrors) {
  test::TempDir dir;
  test::write_text(dir.file("a.toml"), "[train]\nsteps = \"many\"\n");
  std::string msg = error_of([&] { load_run_config(dir.file("a.toml"), {}); });
  EXPECT_NE(msg.find("wrong type for 'train.steps'"), std::string::npos) << msg;
  test::write_text(dir.file("b.toml"), "[train\nsteps = 3\n");
  msg = error_of([&] { load_run_config(dir.file("b.toml"), {}); });
  EXPECT_NE(msg.find("malformed TOML"), std::string::npos) << msg;
  EXPECT_NE(msg.find("b.toml:1"), std::string::npos) << msg;
  msg = error_of([&] { load_run_config("", {"train.steps=2.5"}); });
  EXPECT_NE(msg.find("train.steps"), std::string::npos) << msg;
  msg = error_of([&] { load_run_config("", {"train.lr"}); });
  EXPECT_NE(msg.find("key=value"), std::string::npos) << msg;
  msg = error_of([&] { load_run_config(dir.file("missing.toml"), {}); });
  EXPECT_NE(msg.find("missing.toml"), std::string::npos) << msg;
}

TEST(Config, ValidationNamesTheKey) {
  std::string msg = error_of([&] { load_run_config("", {"train.lr=-1"}); });
  EXPECT_NE(msg.find("train.lr"), std::string::npos) << msg;
  msg = error_of([&] { load_run_config("", {"sample.solver=eulr"}); });
  EXPECT_NE(msg.find("did you mean 'euler'"), std::string::npos) << msg;
  msg = error_of([&] { load_run_config("", {"data.target.name=moon"}); });
  EXPECT_NE(msg.find("moons"), std::string::npos) << msg;
}

TEST(Config, JsonRoundTripIsExact) {
  RunConfig a = load_run_config("", {"train.lr=0.00123456789", "eval.solvers=[\"heun\", \"rk4\"]", "seed=42"});
  std::string j = to_json(a);
  RunConfig b = run_config_from_json(j, "test");
  EXPECT_EQ(to_json(b), j);
  EXPECT_DOUBLE_EQ(b.train.lr, 0.00123456789);
  EXPECT_EQ(b.eval.solvers, (std::vector<std::string>{"heun", "rk4"}));
  EXPECT_EQ(b.seed, 42);
}

TEST(Config, EveryShippedConfigLoads) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(RFLOW_SOURCE_DIR) + "/configs")) {
    if (e.path().extension() != ".toml") continue;
    ++n;
    EXPECT_NO_THROW(load_run_config(e.path().string(), {})) << e.path();
  }
  EXPECT_GE(n, 7);
  // Moved keys kept their values: the image configs' U-Net and the demo's MLP.
  RunConfig img = load_run_config(std::string(RFLOW_SOURCE_DIR) + "/configs/fmnist_cond.toml", {});
  EXPECT_EQ(img.model.arch, "unet");
  EXPECT_EQ(img.model.get<UNetOptions>("unet").channels, 16);
  EXPECT_EQ(img.model.get<UNetOptions>("unet").res_blocks, 1);
  EXPECT_EQ(img.model.num_classes, 10);
  EXPECT_EQ(img.method.get<DistillConfig>("distill").loss, "feature");
  RunConfig demo = load_run_config(std::string(RFLOW_SOURCE_DIR) + "/configs/demo_2d.toml", {});
  EXPECT_EQ(demo.model.get<MlpOptions>("mlp").hidden, 256);
  EXPECT_EQ(demo.model.get<MlpOptions>("mlp").depth, 3);
}
