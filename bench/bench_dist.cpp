// Bench: data-parallel training on this machine (rflow/dist: c10d's Gloo over loopback). (1) The
// all-reduce of a flat gradient buffer between two ranks (two threads of this process, each with
// its own World) for buffers from a small MLP's to a large U-Net's: median ms and the bytes each
// rank sends per second. (2) The same training job as users start it, one process with two threads
// against two ranks of one thread (`--nproc 2`): the demo's MLP and the Fashion-MNIST U-Net, wall
// seconds and the steps/s the run reports; the two ranks sum their gradients in buckets started
// during the backward pass (25 MB, 1 MB, 256 KB) or in one all-reduce after it. (3) The eval stage of a
// demo run, one process of two threads against two ranks sharing its solves. One JSON object.
// Usage: bench_dist [mlp steps = 2000] [unet steps = 40], from the repository root (or with
// RFLOW_SOURCE set to it), on an otherwise quiet machine.
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "bench/child_process.h"
#include "rflow/core/system_info.h"
#include "rflow/dist/launch.h"
#include "rflow/dist/world.h"
#include "rflow/io/remove_tree.h"

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// Median ms of `reps` all-reduces of n floats between two ranks.
double all_reduce_ms(int64_t n, int reps) {
  const int port = rflow::dist::free_port();
  std::vector<double> ms;
  auto rank = [&](int64_t r) {
    rflow::dist::WorldOptions o;
    o.rank = r, o.size = 2, o.local_rank = r, o.local_size = 2, o.master_port = port;
    rflow::dist::World w(o);
    at::Tensor g = torch::ones({n});
    for (int i = 0; i < reps + 3; ++i) {
      w.barrier("the start");
      const auto t0 = Clock::now();
      w.all_reduce_sum(g, "the bench buffer");
      if (r == 0 && i >= 3) ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
  };
  std::thread a(rank, 0), b(rank, 1);
  a.join(), b.join();
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One training job as a user starts it: wall seconds and the steps/s its log reports.
nlohmann::json train_job(const std::vector<std::string>& argv, const std::string& log) {
  const auto t0 = Clock::now();
  const pid_t pid = rflow::bench::start_logged(argv, log);
  int status = 0;
  waitpid(pid, &status, 0);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const std::string out = read_all(log);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("a training job failed:\n" + out);
  std::smatch m;
  double rate = 0;
  if (std::regex_search(out, m, std::regex("reached step [0-9]+ \\(loss [^,]+, ([0-9.]+) steps/s\\)"))) rate = std::stod(m[1]);
  return {{"wall_s", secs}, {"steps_per_s", rate}};
}

// The eval stage of a trained run, run again as one process of two threads and as two ranks of
// one thread sharing its solves: wall seconds of `rflow run RUN --stage eval`.
nlohmann::json eval_jobs(const std::string& cli, const std::string& config, const std::string& steps,
                         const std::vector<std::string>& settings, const fs::path& dir, const std::string& name) {
  const std::string run = (dir / name).string();
  std::vector<std::string> train{cli, "run", config, "--set", "out_dir=" + dir.string(), "--set",
                                 "name=" + name, "--set", "train.steps=" + steps, "--set", "train.ckpt_every=0", "--stage", "train"};
  train_job(train, (dir / "train.log").string());
  nlohmann::json out{{"settings", settings}};
  for (const auto& [key, more] : {std::pair<std::string, std::vector<std::string>>{"one_process_2_threads", {"--set", "threads=2"}},
                                  {"two_ranks_1_thread", {"--set", "threads=1", "--nproc", "2"}}}) {
    rflow::io::remove_tree(run + "/eval");
    fs::remove(run + "/stages/eval.done");
    std::vector<std::string> argv{cli, "run", run, "--stage", "eval"};
    argv.insert(argv.end(), settings.begin(), settings.end());
    argv.insert(argv.end(), more.begin(), more.end());
    out[key] = {{"wall_s", train_job(argv, (dir / "eval.log").string())["wall_s"]}};
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mlp_steps = argc > 1 ? argv[1] : "2000", unet_steps = argc > 2 ? argv[2] : "40";
  const std::string src = std::getenv("RFLOW_SOURCE") ? std::getenv("RFLOW_SOURCE") : ".";
  const std::string cli = (fs::path(fs::read_symlink("/proc/self/exe")).parent_path() / "rflow").string();
  const fs::path dir = fs::temp_directory_path() / ("rflow_bench_dist_" + std::to_string(getpid()));
  fs::create_directories(dir);
  nlohmann::json out{{"bench", "dist"}, {"system", rflow::system_info_json()}};
  try {
    nlohmann::json ar = nlohmann::json::array();
    for (int64_t n : {int64_t{17000}, int64_t{1} << 20, int64_t{8} << 20}) {
      const double ms = all_reduce_ms(n, n > (1 << 22) ? 10 : 50);
      ar.push_back({{"floats", n}, {"bytes", 4 * n}, {"ms", ms}, {"gb_per_s", 4.0 * double(n) / (ms * 1e6)}});
    }
    out["all_reduce_two_ranks"] = ar;
    struct Job {
      std::string name, config, steps;
    };
    for (const Job& j : {Job{"mlp_demo", "configs/demo_2d.toml", mlp_steps}, Job{"unet_fmnist", "configs/fmnist_uncond.toml", unet_steps}}) {
      auto base = [&](const std::string& name) {
        return std::vector<std::string>{cli, "train", "-c", src + "/" + j.config, "--set", "out_dir=" + dir.string(),
                                        "--set", "name=" + name, "--set", "train.steps=" + j.steps, "--set", "train.ckpt_every=0"};
      };
      auto one = base(j.name + "_one");
      one.insert(one.end(), {"--set", "threads=2", "--set", "train.shards=2"});
      out[j.name] = {{"steps", std::stoll(j.steps)}, {"one_process_2_threads", train_job(one, (dir / "one.log").string())}};
      // Two ranks, the gradients summed in one all-reduce after the backward pass or in buckets
      // started during it (25 MB, the default: one bucket for these models; 1 MB and 256 KB: several).
      for (const auto& [key, mb] : {std::pair<std::string, std::string>{"two_ranks_1_thread", "25"}, {"two_ranks_buckets_1mb", "1"},
                                    {"two_ranks_one_all_reduce", "0"}, {"two_ranks_buckets_256kb", "0.25"}}) {
        auto two = base(j.name + "_" + key);
        two.insert(two.end(), {"--set", "threads=1", "--set", "train.bucket_mb=" + mb, "--nproc", "2"});
        out[j.name][key] = train_job(two, (dir / "two.log").string());
      }
    }
    // The demo's eval is mostly exact W2 on rank 0 (5 000 points); the U-Net's mostly solves.
    out["eval_demo"] = eval_jobs(cli, src + "/configs/demo_2d.toml", "1000",
                                 {"--set", "eval.n=5000", "--set", "eval.nfe=[1,4,8]", "--set", "eval.solvers=[\"euler\",\"dopri5\"]",
                                  "--set", "eval.likelihood_n=2000"}, dir, "eval_demo");
    out["eval_unet_fmnist"] = eval_jobs(cli, src + "/configs/fmnist_uncond.toml", unet_steps,
                                        {"--set", "eval.n=2000", "--set", "eval.nfe=[2,8]", "--set", "eval.solvers=[\"euler\"]"}, dir,
                                        "eval_unet");
  } catch (const std::exception& e) {
    rflow::io::remove_tree(dir.string());
    std::cerr << "bench_dist: " << e.what() << "\n";
    return 1;
  }
  rflow::io::remove_tree(dir.string());
  std::cout << out.dump() << std::endl;
  return 0;
}
