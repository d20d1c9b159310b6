#include "rflow/dist/launch.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <thread>

#include <spdlog/spdlog.h>

#include "rflow/core/error.h"

namespace rflow::dist {

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  RF_CHECK(fd >= 0, "cannot open a socket", "rflow run --nproc", "");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(fd);
  RF_CHECK(ok, "cannot find a free port on 127.0.0.1", "rflow run --nproc", "set MASTER_PORT to a free one");
  return ntohs(a.sin_port);
}

namespace {

pid_t start_worker(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  const pid_t pid = ::fork();
  RF_CHECK(pid >= 0, "cannot start a worker process", "rflow run --nproc", "too many processes? lower --nproc");
  if (pid > 0) return pid;
  for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  ::_exit(127);  // exec failed: the parent reports the code
}

int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

// Stops the workers still running: SIGTERM, then SIGKILL for those still there after `grace_s`.
void stop_all(std::map<pid_t, int64_t>& running, double grace_s) {
  for (const auto& [pid, rank] : running) ::kill(pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(grace_s * 1000));
  while (!running.empty() && std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) running.erase(pid);
    else std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (const auto& [pid, rank] : running) {
    spdlog::warn("rank {} did not stop within {:.0f} s: killed", rank, grace_s);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  running.clear();
}

}  // namespace

int launch_local(int64_t nproc, const std::vector<std::string>& argv, double grace_s) {
  RF_CHECK(nproc >= 1 && nproc <= 256, "--nproc must be in [1, 256]", "rflow run --nproc", "");
  const std::string port = std::to_string(std::getenv("MASTER_PORT") ? std::atoi(std::getenv("MASTER_PORT")) : free_port());
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::map<pid_t, int64_t> running;
  for (int64_t r = 0; r < nproc; ++r) {
    std::map<std::string, std::string> env{{"RANK", std::to_string(r)},          {"WORLD_SIZE", std::to_string(nproc)},
                                           {"LOCAL_RANK", std::to_string(r)},    {"LOCAL_WORLD_SIZE", std::to_string(nproc)},
                                           {"MASTER_ADDR", "127.0.0.1"},        {"MASTER_PORT", port}};
    // Intra-op threads: the cores shared out (several ranks each taking all of them slow all down).
    if (!std::getenv("OMP_NUM_THREADS")) env["OMP_NUM_THREADS"] = std::to_string(std::max<int64_t>(1, cores / nproc));
    running[start_worker(argv, env)] = r;
  }
  spdlog::info("rflow run --nproc {}: {} workers, store at 127.0.0.1:{}", nproc, nproc, port);
  int result = 0;
  while (!running.empty()) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) break;
    const auto it = running.find(pid);
    if (it == running.end()) continue;
    const int64_t rank = it->second;
    running.erase(it);
    if (exit_code(status) == 0) continue;
    result = exit_code(status);
    spdlog::error("rank {} exited with {}{}: stopping the other {} rank(s)", rank,
                  WIFEXITED(status) ? "code " : "signal ", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                  running.size());
    stop_all(running, grace_s);
  }
  return result;
}

}  // namespace rflow::dist
