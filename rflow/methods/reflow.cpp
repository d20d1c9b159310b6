#include "rflow/methods/reflow.h"

#include <chrono>
#include <filesystem>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/progress.h"
#include "rflow/core/rng.h"
#include "rflow/data/pair_shards.h"
#include "rflow/io/atomic_file.h"

namespace fs = std::filesystem;

namespace rflow {

void ReflowConfig::validate() const {
  RF_CHECK(pairs >= 1, "pairs must be >= 1", "reflow.pairs", "the reference uses 10k-1M");
  RF_CHECK(shard_size >= 1, "shard_size must be >= 1", "reflow.shard_size", "");
  solvers().get(solver, "reflow.solver");
  RF_CHECK(steps >= 1, "steps must be >= 1", "reflow.steps", "");
  RF_CHECK(rtol > 0 && atol > 0, "rtol and atol must be > 0", "reflow.rtol/atol", "");
}

PairGeneration generate_pairs(const FieldFn& teacher, Distribution& source, const ReflowConfig& cfg,
                              const std::string& dir, uint64_t seed, c10::Device device,
                              const std::map<std::string, std::string>& provenance) {
  cfg.validate();
  fs::create_directories(dir);
  const int64_t shards = (cfg.pairs + cfg.shard_size - 1) / cfg.shard_size;
  SolveOptions opt;
  opt.method = cfg.solver;
  opt.steps = cfg.steps;
  opt.rtol = cfg.rtol;
  opt.atol = cfg.atol;
  PairGeneration g;
  double nfe_sum = 0;
  const auto t_start = std::chrono::steady_clock::now();
  Progress progress("reflow pairs", cfg.pairs);
  for (int64_t i = 0; i < shards; ++i) {
    const int64_t n = std::min(cfg.shard_size, cfg.pairs - i * cfg.shard_size);
    if (fs::exists(pair_shard_path(dir, i))) {
      ++g.shards_skipped;
      progress.update(std::min(cfg.pairs, (i + 1) * cfg.shard_size));
      continue;
    }
    // Each shard has its own seed: skipping or redoing one never shifts another's noise.
    seed_all(seed * 1000003ULL + 7919ULL * static_cast<uint64_t>(i + 1));
    at::Tensor z0 = source.sample(n);
    auto t0 = std::chrono::steady_clock::now();
    SolveResult r = solve(teacher, z0.to(device), opt);
    g.solve_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    RF_CHECK(r.status == SolveStatus::kOk, "teacher solve did not finish", "reflow shard " + std::to_string(i), "");
    nfe_sum += r.nfe.to(torch::kFloat64).sum().item<double>();
    write_pair_shard(dir, i, Pairs{z0, r.x.cpu(), {}},
                     {{"shard", std::to_string(i)}, {"solver", cfg.solver}, {"steps", std::to_string(cfg.steps)}});
    ++g.shards_written;
    g.pairs += n;
    progress.update(std::min(cfg.pairs, (i + 1) * cfg.shard_size));
    if (!progress_is_tty())
      spdlog::info("reflow: shard {}/{} ({} pairs)", i + 1, shards, n);
  }
  progress.finish();
  g.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  g.nfe_mean = g.pairs > 0 ? nfe_sum / double(g.pairs) : 0.0;
  nlohmann::json m{{"pairs", cfg.pairs},         {"shards", shards},      {"shard_size", cfg.shard_size},
                   {"solver", cfg.solver},       {"steps", cfg.steps},    {"seed", seed},
                   {"generated_now", g.pairs},   {"seconds", g.seconds},  {"solve_seconds", g.solve_seconds},
                   {"nfe_mean", g.nfe_mean},
                   {"pairs_per_s", g.seconds > 0 ? double(g.pairs) / g.seconds : 0.0}};
  for (const auto& [k, v] : provenance) m["teacher"][k] = v;
  io::write_file_atomic((fs::path(dir) / "manifest.json").string(), m.dump(2));
  return g;
}

}  // namespace rflow
