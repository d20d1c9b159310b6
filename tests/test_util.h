// Shared helpers for the GoogleTest suite: a self-deleting temporary directory and small file
// utilities, so tests never leave files behind or depend on the working directory.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "rflow/io/remove_tree.h"

namespace rflow::test {

// $TMPDIR or /tmp. Neither std::filesystem::temp_directory_path() nor std::random_device: on the
// GPU machine's build (its own GCC 13 and libstdc++, pip LibTorch) tests that reached them crashed
// through a null function pointer while the CLI, which uses neither, ran.
inline std::filesystem::path temp_root() {
  const char* t = std::getenv("TMPDIR");
  return t && *t ? std::filesystem::path(t) : std::filesystem::path("/tmp");
}

class TempDir {
 public:
  TempDir() {
    static std::atomic<uint64_t> counter{0};
    const auto base = temp_root();
    const uint64_t stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    for (int i = 0; i < 100; ++i) {
      auto p = base / ("rflow_test_" + std::to_string(::getpid()) + "_" + std::to_string(stamp) + "_" +
                       std::to_string(counter++));
      if (std::filesystem::create_directory(p)) {
        path_ = p;
        return;
      }
    }
    throw std::runtime_error("TempDir: could not create a temporary directory");
  }
  ~TempDir() {
    std::error_code ec;
    rflow::io::remove_tree(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// True when Debian's python3 with numpy is present (golden-value tests skip otherwise).
inline bool have_python_numpy() {
  return std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

// Under CI=true (set by .ci/run) a missing prerequisite is a broken machine, not a reason to skip.
inline bool on_ci() {
  const char* v = std::getenv("CI");
  return v && std::string(v) == "true";
}

// Runs `cmd` in a shell, stdout and stderr together.
struct ShellResult {
  int code;
  std::string out;
};
inline ShellResult shell(const std::string& cmd) {
  std::string out;
  char buf[4096];
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return {-1, "popen failed"};
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// Starts argv[0] with argv as a child process, stdout and stderr appended to `log`; returns its pid
// (-1 if fork failed). Everything the child needs is built before fork: it only redirects and execs.
inline pid_t spawn(std::vector<std::string> args, const std::string& log) {
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fd);
  return pid;
}

// Ctrl-C in the middle of a training: starts `args` (output to `log`), waits until `progress`
// exists and is not empty, sends SIGINT and waits. Returns whether it exited with an error, the
// step it said it checkpointed ("interrupted (Ctrl-C) at step N"; "" when it said nothing) and its
// output.
struct Interrupted {
  bool failed = false;
  std::string step, out;
};
inline Interrupted interrupt_when_progressing(const std::vector<std::string>& args, const std::string& log,
                                             const std::filesystem::path& progress) {
  const pid_t pid = spawn(args, log);
  if (pid <= 0) return {};
  for (int i = 0; i < 600 && !(std::filesystem::exists(progress) && std::filesystem::file_size(progress) > 0); ++i)
    ::usleep(100000);
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  Interrupted r;
  r.failed = WIFEXITED(status) && WEXITSTATUS(status) != 0;
  r.out = read_text(log);
  const size_t at = r.out.find("interrupted (Ctrl-C) at step ");
  if (at != std::string::npos) {
    const size_t b = at + std::string("interrupted (Ctrl-C) at step ").size();
    r.step = r.out.substr(b, r.out.find(" of ", b) - b);
  }
  return r;
}
// The checkpoint folder of a step ("step_00000042").
inline std::string step_folder(const std::string& step) { return "step_" + std::string(8 - std::min<size_t>(8, step.size()), '0') + step; }

// While alive, files this process writes may not grow past `bytes`, and a write past it fails
// with EFBIG instead of raising SIGXFSZ: the same failed-write path as a full disk, no mount needed.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &old_);
    old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    rlimit small = old_;
    small.rlim_cur = bytes;
    ok_ = ::setrlimit(RLIMIT_FSIZE, &small) == 0;
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    ::signal(SIGXFSZ, old_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;
  bool ok() const { return ok_; }

 private:
  rlimit old_{};
  sighandler_t old_handler_ = nullptr;
  bool ok_ = false;
};

}  // namespace rflow::test

// Skips the test when `cond` does not hold (a data set or numpy missing on a developer's machine);
// under CI=true it fails instead, so a CI image without them cannot pass by skipping. Only the
// CUDA tests skip everywhere.
#define RFLOW_TEST_REQUIRES(cond, what)                                           \
  do {                                                                            \
    if (!(cond)) {                                                                \
      if (::rflow::test::on_ci()) FAIL() << "missing under CI=true: " << (what); \
      GTEST_SKIP() << (what);                                                     \
    }                                                                             \
  } while (0)
