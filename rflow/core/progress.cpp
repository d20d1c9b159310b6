#include "rflow/core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace rflow {

bool progress_is_tty() { return isatty(fileno(stderr)); }

Progress::Progress(std::string label, int64_t total, int64_t start, bool enabled)
    : label_(std::move(label)),
      total_(total),
      start_(start),
      done_(start),
      tty_(enabled && isatty(fileno(stderr))),
      t0_(std::chrono::steady_clock::now()),
      last_draw_(t0_ - std::chrono::seconds(1)) {}

Progress::~Progress() { finish(); }

double Progress::rate() const {
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  return s > 0 ? (done_ - start_) / s : 0.0;
}

void Progress::update(int64_t done, const std::string& status) {
  done_ = done;
  if (!tty_) return;
  auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  double r = rate();
  double eta = r > 0 ? (total_ - done_) / r : 0.0;
  int width = 24;
  int filled = total_ > 0 ? static_cast<int>(width * double(done_) / total_) : width;
  std::string bar(filled, '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "\r\033[K%s [%s] %lld/%lld  %.1f it/s  ETA %02d:%02d  %s", label_.c_str(),
               bar.c_str(), (long long)done_, (long long)total_, r, int(eta) / 60, int(eta) % 60,
               status.c_str());
  std::fflush(stderr);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (tty_) {
    std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }
}

}  // namespace rflow
