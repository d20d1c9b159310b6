// `rflow auto` through the CLI: a search killed with SIGKILL in the middle of a trial and run
// again ends with the study an uninterrupted search makes — the same points, values and
// decisions, no trial lost or repeated (the killed trial is taken over and resumes from its
// checkpoint) — and two workers share one study.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

std::string write_search(const rflow::test::TempDir& dir) {
  const std::string path = dir.file("search.toml");
  std::ofstream(path) << "config = \"" << RFLOW_SOURCE_DIR << "/configs/checkerboard.toml\"\n"
                      << "trials = 5\n[asha]\nmin_steps = 20\nmax_steps = 180\neta = 3\n[objective]\nn = 300\n"
                      << "[[space]]\nkey = \"train.lr\"\nlow = 1e-4\nhigh = 1e-2\nlog = true\n"
                      << "[[space]]\nkey = \"model.mlp.hidden\"\nchoices = [\"32\", \"64\"]\n";
  return path;
}

// The study as `rflow auto show --json` gives it: per trial, its settings, state, steps and value.
nlohmann::json trials_of(const std::string& search, const std::string& dir) {
  auto r = rflow::test::shell(std::string(RFLOW_CLI) + " auto show " + search + " --set dir=" + dir + " --json");
  EXPECT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  nlohmann::json out = nlohmann::json::object();
  for (const auto& t : j["leaderboard"]) out[std::to_string(t["trial"].get<int64_t>())] = {t["settings"], t["state"], t["steps"], t["value"]};
  return out;
}

}  // namespace

TEST(Auto, ASearchKilledMidTrialAndRunAgainEndsAsAnUninterruptedOne) {
  rflow::test::TempDir dir;
  const std::string search = write_search(dir);
  // Equal to the last bit across a resume needs a fixed thread count (the default follows the load).
  const std::string cli = "OMP_NUM_THREADS=1 " + std::string(RFLOW_CLI) + " auto search " + search + " --set ";
  auto whole = rflow::test::shell(cli + "dir=" + dir.file("whole"));
  ASSERT_EQ(whole.code, 0) << whole.out;

  const std::string log = dir.file("killed.log");
  const pid_t pid =
      rflow::test::spawn({"/usr/bin/env", "OMP_NUM_THREADS=1", RFLOW_CLI, "auto", "search", search, "--set", "dir=" + dir.file("killed")}, log);
  const std::string second = dir.file("killed") + "/checkerboard/trials/trial_1/checkpoints/step_00000020/state.json";
  for (int i = 0; i < 1200 && !fs::exists(second); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  ASSERT_TRUE(fs::exists(second)) << rflow::test::read_text(log);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  auto again = rflow::test::shell(cli + "dir=" + dir.file("killed"));
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_NE(again.out.find("taking over trial 1"), std::string::npos) << again.out;
  const nlohmann::json a = trials_of(search, dir.file("whole")), b = trials_of(search, dir.file("killed"));
  EXPECT_EQ(a.size(), 5u);
  EXPECT_EQ(a, b);
}

TEST(Auto, TwoWorkersShareOneStudyWithoutATrialTwice) {
  rflow::test::TempDir dir;
  const std::string search = write_search(dir);
  auto r = rflow::test::shell(std::string(RFLOW_CLI) + " auto search " + search + " --set dir=" + dir.file("two") +
                              " --set workers=2 --set trials=4");
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json t = trials_of(search, dir.file("two"));
  ASSERT_EQ(t.size(), 4u) << r.out;
  for (const auto& [k, v] : t.items()) EXPECT_TRUE(v[1] == "complete" || v[1] == "pruned") << v;
  EXPECT_NE(r.out.find("auto: 2 workers"), std::string::npos) << r.out;
}

TEST(Auto, APlanFromTwoCardsIsSearchedAndItsDefaultIsTheFirstTrial) {
  rflow::test::TempDir dir;
  const std::string cards = std::string(RFLOW_SOURCE_DIR) + "/cards/";
  auto plan = rflow::test::shell(std::string(RFLOW_CLI) + " auto plan " + cards + "data/moons.toml " + cards + "models/mlp.toml --out " +
                                 dir.file("plan") + " --minutes 1 --cores 1");
  ASSERT_EQ(plan.code, 0) << plan.out;
  EXPECT_NE(plan.out.find("data card: name moons"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("predicted training log"), std::string::npos) << plan.out;
  for (const std::string f : {"run.toml", "search.toml", "prompt.txt", "plan.json"}) EXPECT_TRUE(fs::exists(dir.file("plan/" + f))) << f;
  // A short search of the plan: its first trial trains the plan's default settings.
  auto s = rflow::test::shell(std::string(RFLOW_CLI) + " auto search " + dir.file("plan/search.toml") +
                              " --set trials=2 --set minutes=0 --set asha.min_steps=10 --set asha.max_steps=270 --set objective.n=300");
  ASSERT_EQ(s.code, 0) << s.out;
  const nlohmann::json t = trials_of(dir.file("plan/search.toml") + " --set asha.min_steps=10 --set asha.max_steps=270 --set objective.n=300",
                                     dir.file("plan"));
  ASSERT_EQ(t.size(), 2u);
  const std::string first = t["0"][0].dump();
  EXPECT_NE(first.find("train.lr=0.001\""), std::string::npos) << first;
  EXPECT_NE(first.find("model.mlp.hidden=256"), std::string::npos) << first;
  EXPECT_NE(first.find("model.mlp.depth=3"), std::string::npos) << first;
}

TEST(Auto, AnotherTunerDrivesATrialRungByRungOverStdin) {
  rflow::test::TempDir dir;
  const std::string search = write_search(dir);
  const std::string cli = std::string(RFLOW_CLI) + " auto trial " + search + " --set dir=" + dir.file("t") +
                          " --params '{\"train.lr\": 0.002, \"model.mlp.hidden\": \"64\"}' --number ";
  auto two = rflow::test::shell("printf 'continue\\nstop\\n' | " + cli + "0");
  ASSERT_EQ(two.code, 0) << two.out;
  std::vector<nlohmann::json> lines;
  std::istringstream in(two.out);
  for (std::string l; std::getline(in, l);)
    if (l.rfind("{\"", 0) == 0) lines.push_back(nlohmann::json::parse(l));  // stdout's lines (the log is stderr's)
  ASSERT_EQ(lines.size(), 2u) << two.out;  // rung 20, then 60, and there it was told to stop
  EXPECT_EQ(lines[0]["steps"], 20);
  EXPECT_EQ(lines[1]["steps"], 60);
  EXPECT_TRUE(lines[1]["value"].is_number());
  EXPECT_TRUE(fs::exists(dir.file("t/checkerboard/trials/trial_0/checkpoints")));
  auto bad = rflow::test::shell(std::string(RFLOW_CLI) + " auto trial " + search + " --number 1 --params '{\"train.lr\": 5}' < /dev/null 2>&1");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.out.find("--params.train.lr"), std::string::npos) << bad.out;
}

TEST(Auto, OptunaDrivesTheSameTrialsThroughTheBridge) {
  RFLOW_TEST_REQUIRES(rflow::test::shell("/usr/bin/python3 -c 'import optuna'").code == 0, "python3-optuna (scripts/setup.sh installs it)");
  rflow::test::TempDir dir;
  const std::string search = write_search(dir);
  auto r = rflow::test::shell("/usr/bin/python3 " + std::string(RFLOW_SOURCE_DIR) + "/bench/python/optuna_search.py " + search + " --dir " +
                              dir.file("o") + " --trials 4 --seed 3 --rflow " + RFLOW_CLI);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.rfind("\n{") + 1));  // its one line of JSON, after the trials' logs
  EXPECT_EQ(j["trials"], 4);
  EXPECT_EQ(j["failed"], 0);
  EXPECT_EQ(j["complete"].get<int>() + j["pruned"].get<int>(), 4);
  ASSERT_TRUE(j["best"].is_number());  // the first trial always completes (no rung has a rival yet)
  EXPECT_GT(j["best"].get<double>(), 0.0);
  for (int n = 0; n < 4; ++n) EXPECT_TRUE(fs::exists(dir.file("o/checkerboard/trials/trial_" + std::to_string(n)))) << n;
}
