// Bench: rflow on a shared machine. Times training as users start it — `rflow run` in its own
// process — alone, beside one busy process (a core spinning), two runs at once and four at once
// (the trials a tuning study starts), with the default thread policy (threads = 0) and with every
// core fixed (threads = N, the old default); the demo (configs/demo_2d.toml, 1000 steps) and a
// U-Net (configs/fmnist_uncond.toml, 30 steps); and Python torch's flow_matching loop
// (bench/python/bench_fm_recipe.py, torch's default threads) alone and beside a busy process.
// One JSON object. Usage: bench_shared_machine [repeats = 1], from the repository root (or with
// RFLOW_SOURCE set to it). Run it on an otherwise quiet machine: it makes its own competition.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/child_process.h"
#include "rflow/core/system_info.h"
#include "rflow/io/remove_tree.h"

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

struct Job {
  pid_t pid = -1;
  std::string log;
};

// Starts argv with its output in `log`.
Job start(const std::vector<std::string>& argv, const std::string& log) { return {rflow::bench::start_logged(argv, log), log}; }

void wait_for(const Job& j) {
  int status = 0;
  waitpid(j.pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::ifstream in(j.log);
    std::stringstream ss;
    ss << in.rdbuf();
    throw std::runtime_error("a timed job failed; its output:\n" + ss.str());
  }
}

// A process that keeps one core busy until killed (the competition `yes > /dev/null` makes).
pid_t start_busy() {
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    volatile unsigned long spin = 0;
    for (;;) spin = spin + 1;
  }
  return pid;
}

void stop(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

// The number before `marker` in the job's output (its own training rate), or 0.
double number_before(const std::string& log, const std::string& marker) {
  std::ifstream in(log);
  std::string line;
  double v = 0;
  while (std::getline(in, line)) {
    const size_t at = line.rfind(marker);
    if (at == std::string::npos) continue;
    size_t start = line.find_last_of(" (", at - 1);
    v = std::atof(line.substr(start + 1, at - start - 1).c_str());
  }
  return v;
}

struct Setup {
  std::string rflow, source, tmp;
};

// `copies` training runs started together (a busy process beside them with `busy`): the wall time
// until the last finishes and each run's own training rate (steps/s, which leaves out start-up).
nlohmann::json run_together(const Setup& s, const std::string& config, int64_t steps, int threads, int copies,
                            bool busy) {
  const pid_t competitor = busy ? start_busy() : -1;
  std::vector<Job> jobs;
  const auto t0 = Clock::now();
  for (int c = 0; c < copies; ++c) {
    const std::string dir = s.tmp + "/job" + std::to_string(c);
    rflow::io::remove_tree(dir);
    jobs.push_back(start({s.rflow, "run", s.source + "/configs/" + config, "--set", "out_dir=" + dir, "--set",
                          "threads=" + std::to_string(threads), "--set", "stages=[\"train\"]", "--set",
                          "train.steps=" + std::to_string(steps), "--set", "train.ckpt_every=" + std::to_string(steps)},
                         s.tmp + "/job" + std::to_string(c) + ".log"));
  }
  std::vector<double> rates;
  for (const auto& j : jobs) {
    wait_for(j);
    rates.push_back(number_before(j.log, " steps/s),"));
  }
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  if (busy) stop(competitor);
  return {{"wall_s", wall}, {"steps_per_s", rates}};
}

// Alone, beside a busy process, two and four at once; the ratios the thread policy is judged by.
nlohmann::json situations(const Setup& s, const std::string& config, int64_t steps, int threads, bool crowds) {
  nlohmann::json out;
  out["alone"] = run_together(s, config, steps, threads, 1, false);
  out["one_busy_process"] = run_together(s, config, steps, threads, 1, true);
  const double alone = out["alone"]["wall_s"].get<double>();
  out["busy_over_alone"] = out["one_busy_process"]["wall_s"].get<double>() / alone;
  if (crowds) {
    out["two_runs"] = run_together(s, config, steps, threads, 2, false);
    out["four_runs"] = run_together(s, config, steps, threads, 4, false);
    // Against running them one after the other.
    out["two_runs_over_serial"] = out["two_runs"]["wall_s"].get<double>() / (2 * alone);
    out["four_runs_over_serial"] = out["four_runs"]["wall_s"].get<double>() / (4 * alone);
  }
  return out;
}

// Python torch's flow_matching 2-D loop (its default: every core), alone and beside a busy process.
nlohmann::json python_peer(const Setup& s, int cores) {
  const std::string script = s.source + "/bench/python/bench_fm_recipe.py";
  if (!fs::exists("/usr/bin/python3") || !fs::exists(script)) return {{"skipped", "no /usr/bin/python3 or script"}};
  nlohmann::json out;
  for (const bool busy : {false, true}) {
    const pid_t competitor = busy ? start_busy() : -1;
    const Job j = start({"/usr/bin/python3", script, std::to_string(cores), "256", "3", "256", "600"}, s.tmp + "/py.log");
    wait_for(j);
    if (busy) stop(competitor);
    std::ifstream in(j.log);
    std::string line, last;
    while (std::getline(in, line))
      if (!line.empty() && line[0] == '{') last = line;
    const auto r = nlohmann::json::parse(last, nullptr, false);
    out[busy ? "one_busy_process" : "alone"] = r.is_object() ? r.value("train_steps_per_s", 0.0) : 0.0;
  }
  out["alone_over_busy"] = out["alone"].get<double>() / std::max(1e-9, out["one_busy_process"].get<double>());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::max(1, std::atoi(argv[1])) : 1;
  Setup s;
  s.rflow = (fs::read_symlink("/proc/self/exe").parent_path() / "rflow").string();
  s.source = std::getenv("RFLOW_SOURCE") ? std::getenv("RFLOW_SOURCE") : fs::current_path().string();
  if (!fs::exists(s.rflow) || !fs::exists(s.source + "/configs/demo_2d.toml")) {
    std::cerr << "bench_shared_machine: needs " << s.rflow << " and " << s.source
              << "/configs/demo_2d.toml (run it from the repository root, or set RFLOW_SOURCE)\n";
    return 2;
  }
  char tmpl[] = "/tmp/rflow_bench_shared_XXXXXX";
  s.tmp = mkdtemp(tmpl);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  nlohmann::json out{{"bench", "shared_machine"}, {"system", rflow::system_info_json()}, {"cores", cores}};
  try {
    // Untimed: the first start reads LibTorch from disk, which would count against the first situation.
    run_together(s, "demo_2d.toml", 10, 0, 1, false);
    for (int r = 0; r < repeats; ++r) {
      nlohmann::json round;
      for (const int threads : {0, cores}) {
        const std::string key = "threads_" + std::to_string(threads);
        round["demo_1000_steps"][key] = situations(s, "demo_2d.toml", 1000, threads, true);
        round["unet_30_steps"][key] = situations(s, "fmnist_uncond.toml", 30, threads, false);
      }
      round["python_fm_recipe_600_steps"] = python_peer(s, cores);
      out["rounds"].push_back(round);
    }
  } catch (const std::exception& e) {
    rflow::io::remove_tree(s.tmp);
    std::cerr << "bench_shared_machine: " << e.what() << "\n";
    return 1;
  }
  rflow::io::remove_tree(s.tmp);
  std::cout << out.dump() << std::endl;
  return 0;
}
