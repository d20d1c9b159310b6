#include "rflow/vl/vl_training.h"

#include <chrono>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/progress.h"
#include "rflow/core/rng.h"
#include "rflow/io/safetensors.h"
#include "rflow/nn/vision_language_model.h"
#include "rflow/text/tokenizer.h"
#include "rflow/train/checkpoint.h"
#include "rflow/train/sigint_scope.h"
#include "rflow/vl/vl_model.h"
#include "rflow/data/vqa_task.h"

namespace rflow {

namespace fs = std::filesystem;

namespace {

void save_vl_checkpoint(const std::string& root, VisionLanguageModelImpl& m, torch::optim::Optimizer& opt, int64_t step,
                        const std::string& config_json, int64_t keep) {
  // Batches come from per-step streams; the RNG state is stored because every checkpoint carries one.
  save_checkpoint(root, m, nullptr, &opt, CheckpointState{step, rng_state()}, config_json, std::max<int64_t>(1, keep));
}

}  // namespace

VlTrainResult train_vl_model(const VlRunConfig& cfg, const std::string& run_dir, const std::string& which) {
  const TrainConfig& o = cfg.train;
  const fs::path dir = fs::path(run_dir) / which;
  fs::create_directories(dir);
  const std::string root = (dir / "checkpoints").string();
  const TilingOptions tiling = vl_tiling(cfg, which);
  auto tok = question_tokenizer(cfg.data.questions);
  VisionLanguageOptions mo = cfg.model;
  mo.vision.tile = tiling.tile;
  VisionLanguageModel m(mo, tok->vocab_size());
  const VqaTask task(cfg.data.path, "train", cfg.data.layouts, cfg.data.questions, tiling, m->vision()->options().side());
  torch::optim::AdamW adam(m->parameters(), torch::optim::AdamWOptions(o.lr)
                                                .betas({o.beta1, o.beta2})
                                                .eps(o.adam_eps)
                                                .weight_decay(o.weight_decay));
  VlRunConfig copy = cfg;
  const std::string config_json = to_json(copy);
  int64_t start = 0;
  if (const std::string ck = resolve_checkpoint(root); !ck.empty()) {
    load_checkpoint(ck, *m, nullptr, &adam);
    start = read_checkpoint_state(ck).step;
    spdlog::info("{}: resumed at step {} from {}", which, start, ck);
  }
  VlTrainResult result;
  for (const auto& p : m->parameters()) result.parameters += p.numel();
  spdlog::info("{}: {} parameters, tiling {}, {} steps of {}", which, result.parameters, tiling.mode, o.steps, o.batch_size);
  std::ofstream metrics(dir / "metrics.jsonl", std::ios::app);
  Progress progress(which, o.steps, start);
  SigintScope sigint;  // Ctrl-C: checkpoint at the current step, then stop
  const auto t0 = std::chrono::steady_clock::now();
  double loss_sum = 0, acc_sum = 0;
  int64_t logged = 0;
  m->train();
  for (int64_t step = start; step < o.steps; ++step) {
    // Each step's draws come from a stream of its own: a resumed run takes the same batches.
    std::mt19937_64 rng(uint64_t(cfg.seed) * 1000003ull + uint64_t(step) + 29);
    const CompositeLayout& layout = task.layouts()[std::uniform_int_distribution<size_t>(0, task.layouts().size() - 1)(rng)];
    const VqaBatch b = task.batch(task.draw(layout, o.batch_size, rng), *tok, m->image_id(), m->answer_id(), true);
    for (auto& grp : adam.param_groups()) grp.options().set_lr(learning_rate(o, step));
    adam.zero_grad();
    const AnswerLoss l = m->loss(b.ids, b.supervise, b.tiles, b.grid.rows, b.grid.cols);
    l.loss.backward();
    if (o.grad_clip > 0) torch::nn::utils::clip_grad_norm_(m->parameters(), o.grad_clip);
    adam.step();
    m->lm()->update_routing();
    loss_sum += l.loss.item<double>(), acc_sum += l.accuracy.item<double>(), ++logged;
    if ((step + 1) % o.log_every == 0 || step + 1 == o.steps) {
      result.loss = loss_sum / double(logged), result.accuracy = acc_sum / double(logged);
      metrics << nlohmann::json{{"step", step + 1}, {"loss", result.loss}, {"accuracy", result.accuracy},
                                {"lr", learning_rate(o, step)}}.dump()
              << "\n"
              << std::flush;
      progress.update(step + 1, fmt::format("loss {:.4f} answer-token accuracy {:.4f}", result.loss, result.accuracy));
      loss_sum = acc_sum = 0, logged = 0;
    }
    if (SigintScope::requested()) {
      save_vl_checkpoint(root, *m, adam, step + 1, config_json, o.keep_checkpoints);
      throw Error("interrupted (Ctrl-C) at step " + std::to_string(step + 1) + " of " + std::to_string(o.steps), which,
                  "a checkpoint was saved: run the same command again to resume");
    }
    if (o.ckpt_every > 0 && (step + 1) % o.ckpt_every == 0 && step + 1 < o.steps)
      save_vl_checkpoint(root, *m, adam, step + 1, config_json, o.keep_checkpoints);
  }
  progress.finish();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  save_vl_checkpoint(root, *m, adam, o.steps, config_json, o.keep_checkpoints);
  io::save_safetensors(vl_weights(run_dir, which), module_tensors(*m), {{"format", "rflow-vision-language"}, {"tiling", tiling.mode}});
  return result;
}

}  // namespace rflow
