#include <filesystem>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/rng.h"
#include "rflow/flow/path.h"
#include "rflow/io/atomic_file.h"
#include "rflow/nn/model_config.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/pipeline/stages.h"
#include "rflow/train/checkpoint.h"
#include "rflow/train/trainer.h"

namespace fs = std::filesystem;

namespace rflow {

namespace {

// A model trained from a teacher (its initial weights, or the frozen field a method reads) is stale
// once that teacher is retrained: start it over instead of resuming. `record` names the file that
// remembers which checkpoint it was.
void restart_if_teacher_changed(const std::string& dir, const std::string& teacher_ckpt,
                                const std::string& record = "teacher.json") {
  const fs::path rec = fs::path(dir) / record;
  nlohmann::json now{{"checkpoint", fs::absolute(teacher_ckpt).lexically_normal().string()},
                     {"step", read_checkpoint_state(teacher_ckpt).step}};
  if (fs::exists(rec) && nlohmann::json::parse(io::read_file(rec.string()), nullptr, false) != now &&
      fs::exists(fs::path(dir) / "checkpoints")) {
    spdlog::warn("train: the teacher of {} changed since it was trained; starting it over", dir);
    for (const char* p : {"checkpoints", "metrics.jsonl", "eval", "samples"}) fs::remove_all(fs::path(dir) / p);
  }
  fs::create_directories(dir);
  io::write_file_atomic(rec.string(), now.dump(2));
}

}  // namespace

void train_run(RunConfig cfg, const std::string& dir, c10::Device device) {
  seed_all(static_cast<uint64_t>(cfg.seed));
  std::string teacher;
  if (!cfg.train.init_from.empty()) {
    teacher = resolve_checkpoint(cfg.train.init_from);
    RF_CHECK(!teacher.empty(), "no checkpoint to initialise from", "train.init_from",
             "point it at the teacher's run directory (train it first)");
    restart_if_teacher_changed(dir, teacher);
  }
  auto method = make_method(cfg.method);
  std::string method_teacher;  // the frozen field the method reads, checked before anything is loaded
  if (method->needs_teacher()) {
    RF_CHECK(!cfg.method.teacher.empty(), "method '" + method->name() + "' needs a teacher field", "method.teacher",
             "set method.teacher to a trained run directory or checkpoint");
    method_teacher = resolve_checkpoint(cfg.method.teacher);
    RF_CHECK(!method_teacher.empty(), "the teacher has no checkpoint", "method.teacher", "train the teacher run first");
    restart_if_teacher_changed(dir, method_teacher, "method_teacher.json");
  }
  fs::create_directories(dir);
  const std::string config_json = to_json(cfg);
  io::write_file_atomic((fs::path(dir) / "config.json").string(), config_json);
  auto batches = make_training_source(cfg, device);
  auto model = make_model(cfg.model, batches->sample_shape());
  const int64_t classes = batches->num_classes();
  RF_CHECK(cfg.model.num_classes >= classes,
           "model.num_classes is smaller than the data's " + std::to_string(classes) + " classes", "model.num_classes",
           "set it to " + std::to_string(classes));
  if (!teacher.empty() && resolve_checkpoint(dir + "/checkpoints").empty()) {
    load_weights(teacher, *model, /*use_ema=*/true);
    spdlog::info("train: initialised from {} (EMA weights)", teacher);
  }
  VelocityField teacher_field;
  if (!method_teacher.empty()) {
    teacher_field = load_model(method_teacher, /*use_ema=*/true, device).model;
    RF_CHECK(teacher_field->sample_shape() == batches->sample_shape(), "the teacher's samples have another shape",
             "method.teacher", "use a teacher trained on the same data");
  }
  spdlog::info("train: {} coupling, {} ({} parameters), method {}, {} steps × batch {} → {}", cfg.data.coupling,
               describe_model(cfg.model), count_parameters(*model), method->name(), cfg.train.steps,
               cfg.train.batch_size, dir);
  Trainer trainer(cfg.train, model, *method, *batches, dir, config_json, device,
                  std::shared_ptr<const Path>(make_path(cfg.method.path)), teacher_field);
  TrainResult r = trainer.run();
  spdlog::info("train: reached step {} (loss {:.5f}, {:.1f} steps/s), checkpoint {}", r.step, r.last_loss,
               r.steps_per_s, r.checkpoint);
}

void stage_train(StageContext& ctx) { train_run(ctx.cfg, ctx.run_dir, ctx.device); }

}  // namespace rflow
