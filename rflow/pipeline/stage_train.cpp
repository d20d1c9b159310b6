#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/rng.h"
#include "rflow/nn/model_config.h"
#include "rflow/pipeline/stages.h"
#include "rflow/train/checkpoint.h"
#include "rflow/train/trainer.h"

namespace rflow {

void stage_train(StageContext& ctx) {
  const RunConfig& cfg = ctx.cfg;
  seed_all(static_cast<uint64_t>(cfg.seed));
  auto coupling = make_coupling(cfg.data);
  auto batches = make_batch_source(cfg.data);
  auto model = make_model(cfg.model, coupling->sample_shape());
  auto method = make_method(cfg.method);
  if (!cfg.train.init_from.empty() && resolve_checkpoint(ctx.run_dir + "/checkpoints").empty()) {
    std::string teacher = resolve_checkpoint(cfg.train.init_from);
    RF_CHECK(!teacher.empty(), "no checkpoint to initialise from", "train.init_from",
             "point it at the teacher's run directory");
    load_weights(teacher, *model, /*use_ema=*/true);
    spdlog::info("train: initialised from {} (EMA weights)", teacher);
  }
  spdlog::info("train: {} → {} ({} coupling), {} ({} parameters), method {}, {} steps × batch {}",
               coupling->source().describe(), coupling->target().describe(), cfg.data.coupling, cfg.model.arch,
               count_parameters(*model), method->name(), cfg.train.steps, cfg.train.batch_size);
  Trainer trainer(cfg.train, model, *method, *batches, ctx.run_dir, ctx.config_json, ctx.device);
  TrainResult r = trainer.run();
  spdlog::info("train: reached step {} (loss {:.5f}, {:.1f} steps/s), checkpoint {}", r.step, r.last_loss,
               r.steps_per_s, r.checkpoint);
}

}  // namespace rflow
