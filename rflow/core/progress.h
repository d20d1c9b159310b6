// A one-line TTY progress bar (done/total, rate, ETA and a free-form status such as the loss).
// It draws only when stderr is a terminal, once the job has run for a second (quick jobs show
// nothing), at most ~10 times a second, so logs and CI output stay clean; long jobs report
// through the logger at their own cadence instead. Log lines written
// while a bar is up erase it, print, and redraw it below (the log sink calls with_progress_hidden),
// and a finished bar leaves one line with the total time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace rflow {

// Whether stderr is a terminal (progress bars draw; otherwise long jobs log lines instead).
bool progress_is_tty();
// Seconds as mm:ss, or h:mm:ss from an hour on (progress bars, ETAs in log lines).
std::string clock_text(double seconds);

class Progress {
 public:
  Progress(std::string label, int64_t total, int64_t start = 0, bool enabled = true);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  void update(int64_t done, const std::string& status = {});
  void finish();
  // Items per second since construction (not counting the starting offset).
  double rate() const;
  double seconds() const;

 private:
  std::string line(bool final) const;
  std::string label_, status_;
  int64_t total_, start_, done_;
  bool tty_, finished_ = false, drawn_ = false;
  std::chrono::steady_clock::time_point t0_, last_draw_;
};

// Runs `write` (which prints to stderr) with the active progress bar erased, then redraws the bar.
void with_progress_hidden(const std::function<void()>& write);

}  // namespace rflow
