// Bench: reflow pair generation. Throughput (pairs/s) of generate_pairs with a 3×256 MLP teacher on
// 2-D data at several solver budgets, and where the time goes: the network's forward calls (timed
// alone on the same batches), the solver's own arithmetic, and noise drawing + shard writing. Also
// the online mode's pairs/s (a few Euler steps per training batch). Prints one JSON object.
// Usage: bench_reflow [threads]
#include <chrono>
#include <filesystem>
#include <cstdlib>
#include <iostream>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "rflow/core/log.h"
#include "rflow/core/malloc_tuning.h"
#include "rflow/core/memory_usage.h"
#include "rflow/core/system_info.h"
#include "rflow/data/online_pairs.h"
#include "rflow/methods/reflow.h"
#include "rflow/nn/model_config.h"
#include "rflow/io/remove_tree.h"

using namespace rflow;
namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

nlohmann::json generation(VelocityField teacher, const std::string& solver, int64_t steps, int64_t pairs, int64_t shard) {
  auto data = make_coupling(DataConfig{});
  ReflowConfig cfg;
  cfg.pairs = pairs;
  cfg.shard_size = shard;
  cfg.solve.method = solver;
  cfg.solve.steps = steps;
  const fs::path dir = fs::path(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") / ("rflow_bench_reflow_" + std::to_string(::getpid()));
  rflow::io::remove_tree(dir);
  auto g = generate_pairs(bind_field(*teacher), data->source(), cfg, dir.string(), 0, torch::kCPU);
  rflow::io::remove_tree(dir);
  // The network alone: as many forward calls on batches of the shard size.
  const int64_t calls = static_cast<int64_t>(g.nfe_mean + 0.5) * ((pairs + shard - 1) / shard);
  torch::NoGradGuard ng;
  auto x = torch::randn({shard, 2});
  auto t = torch::rand({shard});
  teacher->forward(x, t);  // warm-up
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < calls; ++i) teacher->forward(x, t);
  const double net = seconds_since(t0);
  return {{"solver", solver},
          {"steps", steps},
          {"nfe", g.nfe_mean},
          {"pairs", g.pairs},
          {"seconds", g.seconds},
          {"pairs_per_s", g.pairs / g.seconds},
          {"share_network", net / g.seconds},
          {"share_solver", (g.solve_seconds - net) / g.seconds},
          {"share_sampling_and_io", (g.seconds - g.solve_seconds) / g.seconds}};
}

nlohmann::json online(VelocityField teacher, int64_t steps, int64_t batch, int64_t iters) {
  OnlinePairSource src(teacher, make_coupling(DataConfig{}), steps, 1.0);
  src.next(batch, torch::kCPU);
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iters; ++i) src.next(batch, torch::kCPU);
  const double s = seconds_since(t0);
  return {{"euler_steps", steps}, {"batch", batch}, {"batches_per_s", iters / s}, {"pairs_per_s", iters * batch / s}};
}

}  // namespace

int main(int argc, char** argv) {
  rflow::keep_freed_memory();
  rflow::setup_logging("warn");
  int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  ModelConfig mc;  // the 2-D configs' teacher: 3 × 256 MLP
  auto teacher = make_model(mc, {2});
  teacher->eval();
  nlohmann::json out{{"bench", "reflow"}, {"threads", threads}, {"teacher", "mlp 3x256, 2-D"}};
  nlohmann::json gen = nlohmann::json::array();
  gen.push_back(generation(teacher, "euler", 20, 20000, 5000));
  gen.push_back(generation(teacher, "rk4", 25, 20000, 5000));
  gen.push_back(generation(teacher, "euler", 100, 20000, 5000));
  gen.push_back(generation(teacher, "dopri5", 1, 20000, 5000));  // steps unused (adaptive)
  out["pair_generation"] = gen;
  out["online"] = online(teacher, 20, 256, 200);
  out["system"] = rflow::system_info_json();
  out["peak_rss_mb"] = static_cast<double>(rflow::peak_rss_bytes()) / (1 << 20);
  std::cout << out.dump() << std::endl;
}
