#include <filesystem>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/methods/reflow.h"
#include "rflow/pipeline/chain.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/pipeline/stages.h"
#include "rflow/train/checkpoint.h"

namespace fs = std::filesystem;

namespace rflow {

// Pairs of the k-RF into pairs_dir(k). Only the 1-RF is solved with the configured guidance: later
// models learned from guided pairs already, and guiding them again would compound the scale.
void make_teacher_pairs(StageContext& ctx, int64_t k) {
  const RunConfig& cfg = ctx.cfg;
  const std::string teacher_dir = rf_dir(ctx.run_dir, k);
  LoadedModel m = load_model(teacher_dir, /*use_ema=*/true, ctx.device);
  auto& coupling = m.data;  // built once by load_model (an npy target is read once)
  FieldOptions fo = cfg.reflow.field;
  fo.guidance = k == 1 ? fo.guidance : 1.0;
  const std::string dir = pairs_dir(ctx.run_dir, k);
  VelocityFieldImpl& field = *m.model;
  // Pairs keep what the teacher was conditioned on: labels, captions.
  const bool conditional = m.cfg.data.labels || coupling->target().context_len() > 0;
  CondSampler cond_from = conditional ? conditions_from(coupling->target(), m.cfg.data.labels) : CondSampler();
  ReflowConfig rc = cfg.reflow;
  rc.field = fo;
  auto g = generate_pairs([&](const Cond& cond) { return wrap_field(field, cond, fo); },
                          coupling->source(), cond_from, rc, dir, static_cast<uint64_t>(cfg.seed) + 5 + 100 * (k - 1),
                          ctx.device, {{"checkpoint", fs::path(m.checkpoint).filename().string()},
                                       {"step", std::to_string(m.step)},
                                       {"weights", checkpoint_fingerprint(m.checkpoint)}},
                          coupling->target().sample_shapes());
  spdlog::info("reflow: {}-RF pairs: {} written ({} shards new, {} kept) in {:.1f} s ({:.0f} pairs/s, {:.0f} NFE each, "
               "{:.0f}% of the time in teacher solves) → {}",
               k, g.pairs, g.shards_written, g.shards_skipped, g.seconds, g.seconds > 0 ? g.pairs / g.seconds : 0.0,
               g.nfe_mean, g.seconds > 0 ? 100 * g.solve_seconds / g.seconds : 0.0, dir);
}

// rounds = 0: pairs of this run's 1-RF only (for a hand-written k-RF config). rounds = R: for
// k = 1 … R, pairs of the k-RF (unless online) and the (k+1)-RF fine-tuned on them.
void stage_reflow(StageContext& ctx) {
  const RunConfig& cfg = ctx.cfg;
  if (cfg.reflow.rounds == 0) {
    RF_CHECK(!cfg.reflow.online, "online reflow needs rounds >= 1", "reflow.online",
             "set reflow.rounds = 1 (online pairs are made while the 2-RF trains)");
    make_teacher_pairs(ctx, 1);
    return;
  }
  for (int64_t k = 1; k <= cfg.reflow.rounds; ++k) {
    if (!cfg.reflow.online) make_teacher_pairs(ctx, k);
    RunConfig sub = reflow_run_config(cfg, ctx.run_dir, k);
    spdlog::info("reflow: training {}-RF from the {}-RF ({})", k + 1, k,
                 cfg.reflow.online ? "online pairs, " + std::to_string(cfg.reflow.online_steps) + " Euler steps" : "stored pairs");
    train_run(sub, sub.run_dir(), ctx.device);
  }
}

}  // namespace rflow
