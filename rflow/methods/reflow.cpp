#include "rflow/methods/reflow.h"

#include <chrono>
#include <filesystem>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/progress.h"
#include "rflow/core/rng.h"
#include "rflow/core/thread_policy.h"
#include "rflow/data/pair_shards.h"
#include "rflow/dist/world.h"
#include "rflow/io/atomic_file.h"

namespace fs = std::filesystem;

namespace rflow {

void ReflowConfig::validate(const std::string& where) const {
  RF_CHECK(pairs >= 1, "pairs must be >= 1", where + ".pairs", "the reference uses 10k-1M");
  RF_CHECK(shard_size >= 1, "shard_size must be >= 1", where + ".shard_size", "");
  RF_CHECK(batch >= 1, "batch must be >= 1", where + ".batch", "250 keeps a 28x28 image teacher's guided solve near 0.4 GB");
  solve.validate(where);
  field.validate(where);
  RF_CHECK(solve.t0 == 0.0 && solve.t1 == 1.0 && solve.max_nfe == 0 && !solve.record_trajectory &&
               (solve.grid.empty() || (solve.grid.front() == 0.0 && solve.grid.back() == 1.0)),
           "reflow pairs join noise (t = 0) to data (t = 1) with finished solves", where + ".t0/t1/grid/max_nfe",
           "leave reflow.t0 = 0, reflow.t1 = 1, reflow.max_nfe = 0, and a reflow.grid (if any) from 0 to 1");
  RF_CHECK(rounds >= 0 && rounds <= 8, "rounds must be in [0, 8]", where + ".rounds", "1 or 2 is usual (3-RF at most in the paper)");
  RF_CHECK(online_steps >= 1, "online_steps must be >= 1", where + ".online_steps", "the reference uses 20");
  train.validate(where + ".train");
}

namespace {

// Discards shards that a different teacher or different settings made.
void discard_if_stale(const std::string& dir, const nlohmann::json& spec) {
  const fs::path gen = fs::path(dir) / "generation.json";
  if (fs::exists(gen)) {
    auto old = nlohmann::json::parse(io::read_file(gen.string()), nullptr, false);
    if (!old.is_discarded() && old == spec) return;
    spdlog::warn("reflow: {} was made by another teacher or with other settings; regenerating it", dir);
    for (const auto& s : list_pair_shards(dir)) fs::remove(s);
    fs::remove(fs::path(dir) / "manifest.json");
  }
  io::write_file_atomic(gen.string(), spec.dump(2));
}

}  // namespace

PairGeneration generate_pairs(const FieldFn& teacher, Distribution& source, const ReflowConfig& cfg,
                              const std::string& dir, uint64_t seed, c10::Device device,
                              const std::map<std::string, std::string>& provenance) {
  return generate_pairs([&](const Cond&) { return teacher; }, source, CondSampler(), cfg, dir, seed, device, provenance);
}

CondSampler conditions_from(Distribution& target, bool labels) {
  RF_CHECK(!labels || target.num_classes() > 0, target.describe() + " has no class labels", "data.labels",
           "use a labelled target or set data.labels=false");
  return [&target, labels](int64_t n, const std::vector<int64_t>& shape) {
    const Cond drawn = target.sample(n, {}, shape).cond;
    Cond c;
    if (labels) c.labels = drawn.labels;
    c.context = drawn.context, c.mask = drawn.mask;
    return c;
  };
}

namespace {

// One shard's n pairs: noise in `shape` ({}: the source's own), conditioning drawn for it, the
// teacher solved cfg.batch pairs at a time (an image teacher's activations for a whole shard would
// hold gigabytes). Adds the solves' NFE to nfe_sum.
Pairs solve_shard(const TeacherFn& teacher, Distribution& source, const CondSampler& cond_from, int64_t n,
                  const std::vector<int64_t>& shape, const ReflowConfig& cfg, c10::Device device, int64_t shard,
                  double& nfe_sum) {
  at::Tensor z0 = source.sample(n, {}, shape).x;
  Cond cond;
  if (cond_from) cond = cond_from(n, shape);
  std::vector<at::Tensor> z1_parts;
  for (int64_t a = 0; a < n; a += cfg.batch) {
    const int64_t m = std::min(cfg.batch, n - a);
    const Cond part = cond.slice(a, a + m).to(device);
    SolveResult r = solve(teacher(part), z0.narrow(0, a, m).to(device), cfg.solve);
    RF_CHECK(r.status == SolveStatus::kOk, "teacher solve did not finish", "reflow shard " + std::to_string(shard), "");
    nfe_sum += r.nfe.to(torch::kFloat64).sum().item<double>();
    z1_parts.push_back(r.x.cpu());
  }
  return Pairs{z0, torch::cat(z1_parts), cond.to(c10::kCPU)};
}

}  // namespace

PairGeneration generate_pairs(const TeacherFn& teacher, Distribution& source, const CondSampler& cond_from,
                              const ReflowConfig& cfg, const std::string& dir, uint64_t seed, c10::Device device,
                              const std::map<std::string, std::string>& provenance,
                              const std::vector<std::vector<int64_t>>& shapes) {
  cfg.validate();
  // In a distributed run the ranks share the shards (i mod ranks); rank 0 alone prepares the
  // folder and writes the manifest.
  const dist::World& world = dist::world();
  const SolveOptions& so = cfg.solve;
  nlohmann::json spec{{"pairs", cfg.pairs}, {"shard_size", cfg.shard_size}, {"solver", so.method},
                      {"steps", so.steps},  {"rtol", so.rtol},               {"atol", so.atol},
                      {"seed", seed},       {"labels", static_cast<bool>(cond_from)}};
  if (cond_from) spec["guidance"] = cfg.field.guidance;
  const std::unique_ptr<Solver> solver = solvers().get(so.method)();
  const bool adaptive = solver->nfe_per_step() == 0;
  spec.update(so.non_default_settings(adaptive));
  if (solver->needs_variance()) spec["eta"] = cfg.field.eta;
  // A batch-shared adaptive solve takes its steps from the hardest pair in the batch.
  if (adaptive && !so.per_sample) spec["batch"] = cfg.batch;
  for (const auto& [k, v] : provenance) spec["teacher"][k] = v;
  if (shapes.size() > 1) spec["shapes"] = shapes;
  if (world.leader()) {
    fs::create_directories(dir);
    io::remove_stale_temporaries(dir);  // shards of a generation killed mid-write
    discard_if_stale(dir, spec);
  }
  world.barrier("the pairs folder's setup");
  const int64_t shards = (cfg.pairs + cfg.shard_size - 1) / cfg.shard_size;
  PairGeneration g;
  double nfe_sum = 0;
  const auto t_start = std::chrono::steady_clock::now();
  Progress progress("reflow pairs", cfg.pairs, 0, /*enabled=*/world.leader());
  for (int64_t i = 0; i < shards; ++i) {
    if (i % world.size() != world.rank()) continue;  // another rank's
    // threads = 0 follows the machine's load, shard by shard.
    if (const std::string change = adapt_threads(); !change.empty()) spdlog::info("reflow pairs: {}", change);
    const int64_t n = std::min(cfg.shard_size, cfg.pairs - i * cfg.shard_size);
    if (fs::exists(pair_shard_path(dir, i))) {
      ++g.shards_skipped;
      progress.update(std::min(cfg.pairs, (i + 1) * cfg.shard_size));
      continue;
    }
    // Each shard has its own seed: skipping or redoing one never shifts another's noise.
    seed_all(seed * 1000003ULL + 7919ULL * static_cast<uint64_t>(i + 1));
    // Data of several shapes: shard i in shape i mod K, so every shape gets its share and a
    // skipped shard never moves another's.
    const std::vector<int64_t> shape =
        shapes.size() > 1 ? shapes[static_cast<size_t>(i) % shapes.size()] : std::vector<int64_t>{};
    auto t0 = std::chrono::steady_clock::now();
    Pairs pairs = solve_shard(teacher, source, cond_from, n, shape, cfg, device, i, nfe_sum);
    g.solve_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    write_pair_shard(dir, i, pairs,
                     {{"shard", std::to_string(i)}, {"solver", so.method}, {"steps", std::to_string(so.steps)}});
    ++g.shards_written;
    g.pairs += n;
    progress.update(std::min(cfg.pairs, (i + 1) * cfg.shard_size));
    if (!progress_is_tty())
      spdlog::info("reflow: shard {}/{} ({} pairs)", i + 1, shards, n);
  }
  progress.finish();
  if (!world.alone()) {
    // Every rank's counts, summed (the wall time is the slowest rank's: all wait here).
    at::Tensor sums = torch::tensor({double(g.pairs), double(g.shards_written), double(g.shards_skipped), nfe_sum,
                                     g.solve_seconds}, torch::kDouble);
    world.all_reduce_sum(sums, "the pair counts");
    g.pairs = static_cast<int64_t>(sums[0].item<double>()), g.shards_written = static_cast<int64_t>(sums[1].item<double>());
    g.shards_skipped = static_cast<int64_t>(sums[2].item<double>()), nfe_sum = sums[3].item<double>();
    g.solve_seconds = sums[4].item<double>() / double(world.size());  // per rank, as the wall time
  }
  g.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  g.nfe_mean = g.pairs > 0 ? nfe_sum / double(g.pairs) : 0.0;
  if (!world.leader()) return g;
  nlohmann::json m{{"pairs", cfg.pairs},         {"shards", shards},      {"shard_size", cfg.shard_size},
                   {"solver", so.method},        {"steps", so.steps},     {"seed", seed},
                   {"generated_now", g.pairs},   {"seconds", g.seconds},  {"solve_seconds", g.solve_seconds},
                   {"nfe_mean", g.nfe_mean},           {"labels", static_cast<bool>(cond_from)},
                   {"pairs_per_s", g.seconds > 0 ? double(g.pairs) / g.seconds : 0.0}};
  for (const auto& [k, v] : provenance) m["teacher"][k] = v;
  io::write_file_atomic((fs::path(dir) / "manifest.json").string(), m.dump(2));
  return g;
}

}  // namespace rflow

namespace rflow {

}  // namespace rflow
