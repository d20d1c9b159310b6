// A one-line TTY progress bar (done/total, rate, ETA and a free-form status such as the loss).
// It draws only when stderr is a terminal, at most ~10 times a second, so logs and CI output stay
// clean; long jobs report through the logger at their own cadence instead.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace rflow {

// Whether stderr is a terminal (progress bars draw; otherwise long jobs log lines instead).
bool progress_is_tty();

class Progress {
 public:
  Progress(std::string label, int64_t total, int64_t start = 0, bool enabled = true);
  ~Progress();
  void update(int64_t done, const std::string& status = {});
  void finish();
  // Items per second since construction (not counting the starting offset).
  double rate() const;

 private:
  std::string label_;
  int64_t total_, start_, done_;
  bool tty_, finished_ = false;
  std::chrono::steady_clock::time_point t0_, last_draw_;
};

}  // namespace rflow
