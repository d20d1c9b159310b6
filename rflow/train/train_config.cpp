#include "rflow/train/train_config.h"

#include <cmath>

#include "rflow/core/error.h"

namespace rflow {

void TrainConfig::validate(const std::string& where) const {
  RF_CHECK(steps >= 1, "steps must be >= 1", where + ".steps", "a run with no step would be marked trained without a checkpoint");
  RF_CHECK(batch_size >= 1, "batch_size must be >= 1", where + ".batch_size", "");
  RF_CHECK(std::isfinite(bucket_mb) && bucket_mb >= 0 && bucket_mb <= 4096, "bucket_mb must be in [0, 4096]",
           where + ".bucket_mb", "0 sums all gradients in one all-reduce after the backward pass");
  RF_CHECK(shards >= 0 && shards <= 4096, "shards must be in [0, 4096]", where + ".shards", "0 = one per rank");
  RF_CHECK(shards == 0 || batch_size % shards == 0,
           "batch_size " + std::to_string(batch_size) + " does not split into " + std::to_string(shards) + " shards",
           where + ".shards", "choose a batch_size that the shards divide");
  RF_CHECK(precision == "fp32" || precision == "bf16", "unknown precision '" + precision + "'", where + ".precision",
           "use fp32 or bf16");
  RF_CHECK(optimizer == "adam" || optimizer == "adamw", "unknown optimizer '" + optimizer + "'", where + ".optimizer",
           "use adam or adamw");
  RF_CHECK(std::isfinite(lr) && lr > 0, "lr must be > 0", where + ".lr", "typical: 1e-3 for 2-D MLPs, 2e-4 for U-Nets");
  RF_CHECK(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "betas must be in [0, 1)", where + ".beta1/beta2", "");
  RF_CHECK(adam_eps > 0, "adam_eps must be > 0", where + ".adam_eps", "");
  RF_CHECK(weight_decay >= 0, "weight_decay must be >= 0", where + ".weight_decay", "");
  RF_CHECK(warmup >= 0, "warmup must be >= 0", where + ".warmup", "");
  RF_CHECK(schedule == "cosine" || schedule == "constant", "unknown schedule '" + schedule + "'", where + ".schedule",
           "use cosine or constant");
  RF_CHECK(min_lr_ratio >= 0 && min_lr_ratio <= 1, "min_lr_ratio must be in [0, 1]", where + ".min_lr_ratio", "");
  RF_CHECK(grad_clip >= 0, "grad_clip must be >= 0", where + ".grad_clip", "0 disables clipping");
  RF_CHECK(ema_decay >= 0 && ema_decay < 1, "ema_decay must be in [0, 1)", where + ".ema_decay", "typical: 0.999");
  RF_CHECK(log_every >= 1, "log_every must be >= 1", where + ".log_every", "");
  RF_CHECK(ckpt_every >= 0, "ckpt_every must be >= 0", where + ".ckpt_every", "0 = only at the end");
  RF_CHECK(keep_checkpoints >= 1, "keep_checkpoints must be >= 1", where + ".keep_checkpoints", "");
}

double learning_rate(const TrainConfig& cfg, int64_t step) {
  if (step < cfg.warmup) return cfg.lr * double(step + 1) / double(cfg.warmup);
  if (cfg.schedule == "constant" || cfg.steps <= cfg.warmup) return cfg.lr;
  double p = std::min(1.0, double(step - cfg.warmup) / double(cfg.steps - cfg.warmup));
  double lo = cfg.lr * cfg.min_lr_ratio;
  return lo + 0.5 * (cfg.lr - lo) * (1 + std::cos(M_PI * p));
}

}  // namespace rflow
