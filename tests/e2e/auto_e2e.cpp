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
