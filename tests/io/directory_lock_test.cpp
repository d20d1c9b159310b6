#include "rflow/io/directory_lock.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <optional>

#include <gtest/gtest.h>

#include "rflow/core/error.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

// One holder at a time; the second is told who holds it (pid and command), and gets the lock once
// the first lets go.
TEST(DirectoryLock, OneHolderAtATimeAndTheSecondIsToldWho) {
  rflow::test::TempDir dir;
  const std::string run = dir.file("run");
  std::optional<rflow::io::DirectoryLock> first;
  first.emplace(run, "rflow run demo");
  try {
    rflow::io::DirectoryLock second(run, "rflow run other");
    ADD_FAILURE() << "two holders";
  } catch (const rflow::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("process " + std::to_string(getpid())), std::string::npos) << m;
    EXPECT_NE(m.find("rflow run demo"), std::string::npos) << m;
  }
  first.reset();
  EXPECT_NO_THROW(rflow::io::DirectoryLock(run, "rflow run other"));
}

// A holder killed with SIGKILL leaves its lock file behind but not the lock: the next process takes
// it over without anyone cleaning up.
TEST(DirectoryLock, AKilledHoldersLockIsTakenOver) {
  rflow::test::TempDir dir;
  const std::string run = dir.file("run");
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    try {
      rflow::io::DirectoryLock held(run, "doomed");
      [[maybe_unused]] auto w = write(ready[1], "x", 1);
      pause();
    } catch (...) {
    }
    _exit(1);
  }
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  EXPECT_THROW(rflow::io::DirectoryLock(run, "while it lives"), rflow::Error);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  EXPECT_TRUE(fs::exists(fs::path(run) / rflow::io::DirectoryLock::kFileName));
  EXPECT_NO_THROW(rflow::io::DirectoryLock(run, "after it died"));
  close(ready[0]);
  close(ready[1]);
}
