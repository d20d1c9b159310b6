#include <filesystem>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/methods/reflow.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/pipeline/stages.h"

namespace fs = std::filesystem;

namespace rflow {

// Pairs from this run's EMA weights into <run>/pairs; the next k-RF run trains on them with
// data.coupling = "pairs", data.pairs = <run>/pairs, train.init_from = <run>.
void stage_reflow(StageContext& ctx) {
  const RunConfig& cfg = ctx.cfg;
  LoadedModel m = load_model(ctx.run_dir, /*use_ema=*/true, ctx.device);
  auto& coupling = m.data;  // built once by load_model (an npy target is read once)
  const std::string dir = (fs::path(ctx.run_dir) / "pairs").string();
  auto g = generate_pairs(bind_field(*m.model), coupling->source(), cfg.reflow, dir, static_cast<uint64_t>(cfg.seed) + 5,
                          ctx.device, {{"checkpoint", m.checkpoint}, {"step", std::to_string(m.step)}});
  spdlog::info("reflow: {} pairs written ({} shards new, {} kept) in {:.1f} s ({:.0f} pairs/s, {:.0f} NFE each, "
               "{:.0f}% of the time in teacher solves) → {}",
               g.pairs, g.shards_written, g.shards_skipped, g.seconds, g.seconds > 0 ? g.pairs / g.seconds : 0.0,
               g.nfe_mean, g.seconds > 0 ? 100 * g.solve_seconds / g.seconds : 0.0, dir);
}

}  // namespace rflow
