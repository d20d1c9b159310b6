#include "rflow/core/thread_policy.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include <ATen/Parallel.h>

namespace rflow {

namespace {

enum class Mode { kUnset, kAutomatic, kFixed, kEnvironment };
Mode g_mode = Mode::kUnset;
int64_t g_fixed = 0;

int hardware_cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

int64_t procs_running() {
  std::ifstream in("/proc/stat");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("procs_running ", 0) == 0) return std::stoll(line.substr(14));
  return -1;
}

// This process's threads in state R (running or runnable), from /proc/self/task/<tid>/stat: the
// state is the field after the parenthesised command name.
int64_t own_running_threads() {
  int64_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream in(e.path() / "stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = text.rfind(')');
    if (close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'R') ++n;
  }
  return n;
}

// CPU time of the whole machine (busy jiffies from /proc/stat's first line) and of this process
// (utime + stime from /proc/self/stat), with when they were read: two samples give how many cores
// other processes kept busy in between, averaged over the interval (instantaneous run-queue counts
// flicker with every spinning OpenMP worker).
struct CpuSample {
  double machine = -1, own = 0;
  std::chrono::steady_clock::time_point at;
};

CpuSample cpu_sample() {
  CpuSample s;
  s.at = std::chrono::steady_clock::now();
  std::ifstream stat("/proc/stat");
  std::string cpu;
  double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  if (stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal && cpu == "cpu")
    s.machine = user + nice + system + irq + softirq + steal;
  std::ifstream self("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(self)), std::istreambuf_iterator<char>());
  std::istringstream rest(text.substr(std::min(text.size(), text.rfind(')') + 2)));
  std::string field;
  for (int i = 0; i < 13 && rest >> field; ++i)
    if (i == 11 || i == 12) s.own += std::stod(field);  // utime, stime
  return s;
}

CpuSample g_last;

}  // namespace

int threads_for(int cores, int64_t others_running) {
  return static_cast<int>(std::clamp<int64_t>(cores - std::max<int64_t>(others_running, 0), 1, std::max(cores, 1)));
}

int64_t other_running_tasks() {
  const int64_t all = procs_running();
  if (all < 0) return 0;
  return std::max<int64_t>(0, all - own_running_threads());
}

void apply_thread_setting(int64_t threads) {
  if (threads > 0) {
    g_mode = Mode::kFixed, g_fixed = threads;
    at::set_num_threads(static_cast<int>(threads));
  } else if (std::getenv("OMP_NUM_THREADS")) {
    g_mode = Mode::kEnvironment;  // LibTorch took it at start
  } else {
    g_mode = Mode::kAutomatic;
    at::set_num_threads(threads_for(hardware_cores(), other_running_tasks()));
    g_last = cpu_sample();  // the first window of adapt_threads starts now
  }
}

std::string adapt_threads() {
  if (g_mode != Mode::kAutomatic) return {};
  const CpuSample now = cpu_sample();
  const double seconds = std::chrono::duration<double>(now.at - g_last.at).count();
  if (g_last.machine < 0 || now.machine < 0 || seconds < 0.5) {  // decide over half a second at least
    if (g_last.machine < 0 || seconds >= 0.5) g_last = now;
    return {};
  }
  const double ticks = seconds * static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double others = std::max(0.0, (now.machine - g_last.machine) - (now.own - g_last.own)) / ticks;
  g_last = now;
  const int have = at::get_num_threads(), want = threads_for(hardware_cores(), std::llround(others));
  if (want == have) return {};
  at::set_num_threads(want);
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(1);
  s << "threads: " << have << " -> " << want << " (other processes kept " << others << " cores busy)";
  return s.str();
}

std::string thread_policy_text() {
  std::ostringstream s;
  switch (g_mode) {
    case Mode::kFixed: s << "fixed: " << g_fixed << " (threads = " << g_fixed << ")"; break;
    case Mode::kEnvironment: s << "fixed: " << at::get_num_threads() << " (OMP_NUM_THREADS = " << std::getenv("OMP_NUM_THREADS") << ")"; break;
    default: {
      if (const char* env = std::getenv("OMP_NUM_THREADS")) {
        s << "fixed: " << at::get_num_threads() << " (OMP_NUM_THREADS = " << env << ")";
        break;
      }
      const int64_t others = other_running_tasks();
      s << "automatic for threads = 0: " << threads_for(hardware_cores(), others) << " of " << hardware_cores()
        << " cores now (" << others << " other running tasks), re-checked as runs go";
    }
  }
  return s.str();
}

}  // namespace rflow
