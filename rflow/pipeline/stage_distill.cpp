// The distill stage: one student per teacher in distill.from, trained on that teacher's pairs
// (made here if the reflow stage did not) with method.distill's loss.
#include <spdlog/spdlog.h>

#include "rflow/core/error.h"
#include "rflow/methods/distill.h"
#include "rflow/pipeline/chain.h"
#include "rflow/pipeline/stages.h"
#include "rflow/train/checkpoint.h"

namespace rflow {

// One student per teacher in distill.from, on that teacher's pairs (made here if reflow did not).
void stage_distill(StageContext& ctx) {
  const RunConfig& cfg = ctx.cfg;
  RF_CHECK(!cfg.distill.from.empty(), "no teacher to distill", "distill.from", "e.g. distill.from = [2] (or [1, 2] for the ablation)");
  for (auto k : cfg.distill.from) {
    RF_CHECK(!resolve_checkpoint(rf_dir(ctx.run_dir, k)).empty(), std::to_string(k) + "-RF is not trained yet",
             rf_dir(ctx.run_dir, k), "run the train and reflow stages first");
    if (!cfg.reflow.online) make_teacher_pairs(ctx, k);
    RunConfig sub = distill_run_config(cfg, ctx.run_dir, k);
    const auto& dc = cfg.method.get<DistillConfig>("distill");
    spdlog::info("distill: {}-step student of the {}-RF, {} loss", dc.steps, k, dc.loss);
    train_run(sub, sub.run_dir(), ctx.device);
  }
}

}  // namespace rflow
