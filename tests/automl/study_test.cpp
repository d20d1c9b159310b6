// The study in SQLite: a study reopened with other settings is refused naming the field, two
// processes claiming trials at once never share a number, and a worker killed with SIGKILL at any
// moment leaves every finished trial whole and its running one to be taken over — no trial lost,
// none duplicated.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "rflow/automl/study.h"
#include "rflow/core/error.h"
#include "tests/test_util.h"

using namespace rflow::automl;

namespace {

const nlohmann::json kMeta{{"sampler", "tpe"}, {"seed", 1}, {"objective", "w2"}};

// A worker's life in a forked child: trials of three reports each, forever or `trials` times.
void work(const std::string& db, int trials) {
  Study s(db, "demo", kMeta);
  for (int i = 0; trials < 0 || i < trials; ++i) {
    const int64_t n = s.start_trial({double(i), 0.5});
    for (int64_t step = 1; step <= 3; ++step) s.report(n, {step * 100, 1.0 / double(step), NAN, "continue"});
    s.finish(n, "complete", 1.0 / 3, 300);
  }
}

pid_t fork_worker(const std::string& db, int trials) {
  const pid_t pid = fork();
  if (pid == 0) {
    try {
      work(db, trials);
    } catch (...) {
      _exit(3);
    }
    _exit(0);
  }
  return pid;
}

}  // namespace

TEST(Study, ReopenedWithOtherSettingsItIsRefusedNamingTheField) {
  rflow::test::TempDir dir;
  const std::string db = dir.file("study.db");
  { Study s(db, "demo", kMeta); }
  nlohmann::json other = kMeta;
  other["seed"] = 2;
  try {
    Study s(db, "demo", other);
    ADD_FAILURE() << "another seed must be refused";
  } catch (const rflow::Error& e) {
    EXPECT_NE(std::string(e.what()).find("another seed"), std::string::npos) << e.what();
  }
  Study same(db, "demo", kMeta);  // the same settings reopen it
  Study second(db, "other", other);  // another study in the same file is its own
  EXPECT_EQ(second.trials().size(), 0u);
  EXPECT_THROW(Study(dir.file("missing/dir/study.db"), "x", kMeta), rflow::Error);
}

TEST(Study, TwoProcessesClaimingTrialsAtOnceNeverShareANumber) {
  rflow::test::TempDir dir;
  const std::string db = dir.file("study.db");
  { Study s(db, "demo", kMeta); }
  const pid_t a = fork_worker(db, 25), b = fork_worker(db, 25);
  int sa = 0, sb = 0;
  waitpid(a, &sa, 0), waitpid(b, &sb, 0);
  ASSERT_TRUE(WIFEXITED(sa) && WEXITSTATUS(sa) == 0 && WIFEXITED(sb) && WEXITSTATUS(sb) == 0);
  const auto trials = Study(db, "demo", kMeta).trials();
  ASSERT_EQ(trials.size(), 50u);
  std::set<std::string> workers;
  for (size_t i = 0; i < trials.size(); ++i) {
    EXPECT_EQ(trials[i].number, int64_t(i));
    EXPECT_EQ(trials[i].state, "complete");
    EXPECT_EQ(trials[i].reports.size(), 3u);
    workers.insert(trials[i].worker);
  }
  EXPECT_EQ(workers.size(), 2u);
}

TEST(Study, AWorkerKilledMidTrialLosesNothingAndItsTrialIsTakenOver) {
  rflow::test::TempDir dir;
  const std::string db = dir.file("study.db");
  for (int round = 0; round < 5; ++round) {
    const pid_t pid = fork_worker(db, -1);
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + 40 * round));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    Study s(db, "demo", kMeta);
    auto trials = s.trials();
    ASSERT_FALSE(trials.empty());
    int running = 0;
    for (size_t i = 0; i < trials.size(); ++i) {
      EXPECT_EQ(trials[i].number, int64_t(i));
      if (trials[i].state == "running") {
        ++running;
        continue;
      }
      EXPECT_EQ(trials[i].state, "complete");
      EXPECT_EQ(trials[i].reports.size(), 3u) << "trial " << i;
      EXPECT_DOUBLE_EQ(trials[i].value, 1.0 / 3);
    }
    // The killed worker's trial (if it was inside one) is taken over, once.
    EXPECT_LE(running, 1);
    const auto taken = s.take_over_abandoned();
    EXPECT_EQ(taken.has_value(), running == 1);
    if (taken) {
      EXPECT_EQ(taken->worker, Study::this_worker());
      EXPECT_FALSE(s.take_over_abandoned().has_value());
      // As the worker taking over would: the trial's run resumes and reports the rest.
      for (int64_t step = 1; step <= 3; ++step) s.report(taken->number, {step * 100, 1.0 / double(step), NAN, "continue"});
      s.finish(taken->number, "complete", 1.0 / 3, 300);
    }
  }
}
