// Progress bars on a real terminal (a pseudo-terminal stands in for it): a quick job draws
// nothing, a log line erases the bar and the bar comes back below it, and a finished bar leaves
// one line with its time.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "rflow/core/log.h"
#include "rflow/core/progress.h"

namespace {

// Points stderr at a fresh pseudo-terminal for its lifetime; text() reads what was written.
class FakeTerminal {
 public:
  FakeTerminal() {
    master_ = posix_openpt(O_RDWR | O_NOCTTY);
    EXPECT_GE(master_, 0);
    grantpt(master_);
    unlockpt(master_);
    const int slave = open(ptsname(master_), O_RDWR | O_NOCTTY);
    EXPECT_GE(slave, 0);
    std::fflush(stderr);
    saved_ = dup(2);
    dup2(slave, 2);
    close(slave);
    fcntl(master_, F_SETFL, O_NONBLOCK);
  }
  ~FakeTerminal() {
    std::fflush(stderr);
    dup2(saved_, 2);
    close(saved_);
    close(master_);
  }
  std::string text() {
    std::fflush(stderr);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = read(master_, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    return out;
  }

 private:
  int master_ = -1, saved_ = -1;
};

}  // namespace

TEST(Progress, AQuickJobDrawsNothing) {
  FakeTerminal term;
  ASSERT_TRUE(rflow::progress_is_tty());
  {
    rflow::Progress p("quick", 10);
    for (int i = 1; i <= 10; ++i) p.update(i);
  }
  EXPECT_EQ(term.text().find("quick"), std::string::npos);
}

TEST(Progress, LogLinesEraseTheBarAndItComesBackBelowThem) {
  FakeTerminal term;
  rflow::setup_logging("info");
  {
    rflow::Progress p("work", 10);
    std::this_thread::sleep_for(std::chrono::milliseconds(1050));
    p.update(3, "loss 0.5");
    spdlog::info("a log line");
    p.update(10);
  }
  const std::string out = term.text();
  const auto bar = out.find("work [#######");
  const auto log = out.find("a log line");
  ASSERT_NE(bar, std::string::npos) << out;
  ASSERT_NE(log, std::string::npos) << out;
  EXPECT_LT(bar, log);
  // The log line starts on a cleared line: no bar text between the erase and the timestamp.
  const auto line_start = out.rfind("\r\033[K", log);
  ASSERT_NE(line_start, std::string::npos) << out;
  EXPECT_EQ(out.substr(line_start + 4, 1), "[") << out;
  EXPECT_EQ(out.substr(line_start, log - line_start).find("work"), std::string::npos) << out;
  // Redrawn after it, with its status kept, and finished on a line of its own with the time.
  const auto redraw = out.find("work [", log);
  ASSERT_NE(redraw, std::string::npos) << out;
  EXPECT_NE(out.find("loss 0.5", log), std::string::npos) << out;
  EXPECT_NE(out.find("10/10 in 00:01", log), std::string::npos) << out;
}

TEST(Progress, ClockTextIsMinutesAndSecondsThenHours) {
  EXPECT_EQ(rflow::clock_text(0), "00:00");
  EXPECT_EQ(rflow::clock_text(59.6), "01:00");
  EXPECT_EQ(rflow::clock_text(754), "12:34");
  EXPECT_EQ(rflow::clock_text(3600), "1:00:00");
  EXPECT_EQ(rflow::clock_text(2 * 3600 + 5 * 60 + 7), "2:05:07");
}
