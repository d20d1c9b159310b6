#include "rflow/core/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <vector>

namespace rflow {

namespace {

// The bars on screen, innermost last (an outer bar reappears when an inner one finishes), and the
// text of the bottom line, guarded together so a log line from another thread cannot split a bar.
struct Terminal {
  std::recursive_mutex mu;
  std::vector<const Progress*> bars;
  std::string shown;  // what the bottom line shows now ("" = no bar)
};

Terminal& terminal() {
  static Terminal* t = new Terminal;  // never destroyed: bars may finish during static destruction
  return *t;
}

void draw(Terminal& t, const std::string& text) {
  std::fprintf(stderr, "\r\033[K%s", text.c_str());
  std::fflush(stderr);
  t.shown = text;
}

}  // namespace

std::string clock_text(double s) {
  const int total = static_cast<int>(s + 0.5);
  char buf[32];
  if (total >= 3600)
    std::snprintf(buf, sizeof buf, "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60);
  else
    std::snprintf(buf, sizeof buf, "%02d:%02d", total / 60, total % 60);
  return buf;
}

bool progress_is_tty() { return isatty(fileno(stderr)); }

Progress::Progress(std::string label, int64_t total, int64_t start, bool enabled)
    : label_(std::move(label)),
      total_(total),
      start_(start),
      done_(start),
      tty_(enabled && isatty(fileno(stderr))),
      t0_(std::chrono::steady_clock::now()),
      last_draw_(t0_ - std::chrono::seconds(1)) {
  if (!tty_) return;
  Terminal& t = terminal();
  std::lock_guard<std::recursive_mutex> lock(t.mu);
  t.bars.push_back(this);
}

Progress::~Progress() { finish(); }

double Progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
}

double Progress::rate() const {
  const double s = seconds();
  return s > 0 ? (done_ - start_) / s : 0.0;
}

std::string Progress::line(bool final) const {
  const double r = rate();
  const int width = 24;
  const int filled = total_ > 0 ? static_cast<int>(width * std::min(1.0, double(done_) / total_)) : width;
  std::string bar(filled, '#');
  bar.resize(width, '.');
  char buf[160];
  if (final)
    std::snprintf(buf, sizeof buf, "%s [%s] %lld/%lld in %s (%.1f it/s)", label_.c_str(), bar.c_str(),
                  (long long)done_, (long long)total_, clock_text(seconds()).c_str(), r);
  else
    std::snprintf(buf, sizeof buf, "%s [%s] %lld/%lld  %.1f it/s  ETA %s", label_.c_str(), bar.c_str(),
                  (long long)done_, (long long)total_, r, clock_text(r > 0 ? (total_ - done_) / r : 0.0).c_str());
  std::string s = buf;
  if (!status_.empty()) s += "  " + status_;
  return s;
}

void Progress::update(int64_t done, const std::string& status) {
  done_ = done;
  if (!status.empty()) status_ = status;
  if (!tty_ || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - t0_ < std::chrono::seconds(1)) return;  // a quick job leaves no bar behind
  if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  Terminal& t = terminal();
  std::lock_guard<std::recursive_mutex> lock(t.mu);
  if (!t.bars.empty() && t.bars.back() == this) draw(t, line(false)), drawn_ = true;
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (!tty_) return;
  Terminal& t = terminal();
  std::lock_guard<std::recursive_mutex> lock(t.mu);
  const bool innermost = !t.bars.empty() && t.bars.back() == this;
  t.bars.erase(std::remove(t.bars.begin(), t.bars.end(), this), t.bars.end());
  if (!innermost || !drawn_) return;
  // The finished bar stays as a line of its own with the time it took; an outer bar returns below.
  draw(t, line(true));
  std::fputs("\n", stderr);
  t.shown.clear();
  if (!t.bars.empty()) draw(t, t.bars.back()->line(false));
  std::fflush(stderr);
}

void with_progress_hidden(const std::function<void()>& write) {
  Terminal& t = terminal();
  std::lock_guard<std::recursive_mutex> lock(t.mu);
  const std::string shown = t.shown;
  if (!shown.empty()) {
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
  }
  write();
  if (!shown.empty()) draw(t, shown);
}

}  // namespace rflow
