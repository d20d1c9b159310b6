#include <gtest/gtest.h>

#include "rflow/core/config.h"
#include "rflow/core/error.h"
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
                   "[data.target]\nname = \"moons\"\nmean = [1, 2.5]\n");
  RunConfig cfg = load_run_config(dir.file("c.toml"), {"train.lr=5e-4", "data.source.name=gaussian"});
  EXPECT_EQ(cfg.name, "x");
  EXPECT_DOUBLE_EQ(cfg.train.lr, 5e-4);
  EXPECT_EQ(cfg.train.steps, 7);
  EXPECT_EQ(cfg.eval.nfe, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(cfg.data.target.name, "moons");
  EXPECT_EQ(cfg.data.target.mean, (std::vector<double>{1.0, 2.5}));
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
  EXPECT_NE(msg.find("model.hidden"), std::string::npos) << msg;
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
  for (const char* name : {"configs/demo_2d.toml", "configs/ot_moons.toml", "configs/reflow_8gaussians.toml", "configs/reflow_moons.toml", "configs/instaflow_8gaussians.toml"}) {
    EXPECT_NO_THROW(load_run_config(std::string(RFLOW_SOURCE_DIR) + "/" + name, {})) << name;
  }
}
