#include <filesystem>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/io/nearest_path.h"
#include "rflow/core/fingerprint.h"
#include "rflow/core/rng.h"
#include "rflow/data/coupling.h"
#include "rflow/data/pair_shards.h"
#include "rflow/flow/path.h"
#include "rflow/dist/world.h"
#include "rflow/io/atomic_file.h"
#include "rflow/nn/model_config.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/pipeline/stages.h"
#include "rflow/train/checkpoint.h"
#include "rflow/train/trainer.h"
#include "rflow/io/remove_tree.h"

namespace fs = std::filesystem;

namespace rflow {

namespace {

nlohmann::json checkpoint_identity(const std::string& path) {
  const std::string ckpt = resolve_checkpoint(path);
  if (ckpt.empty()) return nullptr;  // train_run refuses it with its own message
  // By content, not by path: a run directory copied elsewhere is still made from the same teacher.
  return {{"step", read_checkpoint_state(ckpt).step}, {"weights", checkpoint_fingerprint(ckpt)}};
}

// Stored pairs by what made them: generation.json names the teacher's weights and every setting,
// and generation is deterministic. Pairs made elsewhere go by their manifest and shard files.
nlohmann::json pairs_identity(const std::string& dir) {
  const fs::path gen = fs::path(dir) / "generation.json";
  if (fs::exists(gen)) return fingerprint_hex(fingerprint_file(gen.string()));
  nlohmann::json shards = nlohmann::json::array();
  if (fs::exists(fs::path(dir) / "manifest.json"))
    shards.push_back(fingerprint_hex(fingerprint_file((fs::path(dir) / "manifest.json").string())));
  if (fs::is_directory(dir))
    for (const auto& s : list_pair_shards(dir))
      shards.push_back({s, fs::file_size(s), fs::last_write_time(s).time_since_epoch().count()});
  return shards;
}

// A model trained from something outside its run (initial weights, a frozen teacher, pairs) is
// stale once that input changes: it starts over instead of resuming.
void restart_if_inputs_changed(const std::string& dir, const nlohmann::json& now) {
  const fs::path rec = fs::path(dir) / "inputs.json";
  if (fs::exists(rec) && fs::exists(fs::path(dir) / "checkpoints")) {
    const auto old = nlohmann::json::parse(io::read_file(rec.string()), nullptr, false);
    if (old != now) {
      std::string changed;
      for (const auto& [k, v] : now.items())
        if (old.is_discarded() || !old.contains(k) || old[k] != v) changed += (changed.empty() ? "" : ", ") + k;
      spdlog::warn("train: {} changed since {} was trained; starting it over", changed.empty() ? "its inputs" : changed, dir);
      for (const char* p : {"checkpoints", "metrics.jsonl", "eval", "samples"}) io::remove_tree(fs::path(dir) / p);
    }
  }
  fs::create_directories(dir);
  io::write_file_atomic(rec.string(), now.dump(2));
}

}  // namespace

std::string train_inputs(const RunConfig& cfg) {
  nlohmann::json in = nlohmann::json::object();
  if (!cfg.train.init_from.empty()) in["init_from"] = checkpoint_identity(cfg.train.init_from);
  if (!cfg.method.teacher.empty()) in["method.teacher"] = checkpoint_identity(cfg.method.teacher);
  // The stored input the coupling reads is part of what the stage's result depends on.
  const CouplingInput reads = couplings().get(cfg.data.coupling, "data.coupling").input;
  if (reads == CouplingInput::kTeacher && !cfg.data.teacher.empty()) in["data.teacher"] = checkpoint_identity(cfg.data.teacher);
  if (reads == CouplingInput::kPairs && !cfg.data.pairs.empty()) in["data.pairs"] = pairs_identity(cfg.data.pairs);
  return in.empty() ? std::string() : in.dump();
}

void train_run(RunConfig cfg, const std::string& dir, c10::Device device, int64_t stop_at) {
  seed_all(static_cast<uint64_t>(cfg.seed));
  std::string teacher;
  if (!cfg.train.init_from.empty()) {
    teacher = resolve_checkpoint(cfg.train.init_from);
    RF_CHECK(!teacher.empty(), "no checkpoint to initialise from at '" + cfg.train.init_from + "'", "train.init_from",
             "point it at the teacher's run directory (train it first)" + io::did_you_mean_path(cfg.train.init_from));
  }
  auto method = make_method(cfg.method);
  std::string method_teacher;  // the frozen field the method reads, checked before anything is loaded
  if (method->needs_teacher()) {
    RF_CHECK(!cfg.method.teacher.empty(), "method '" + method->name() + "' needs a teacher field", "method.teacher",
             "set method.teacher to a trained run directory or checkpoint");
    method_teacher = resolve_checkpoint(cfg.method.teacher);
    RF_CHECK(!method_teacher.empty(), "the teacher has no checkpoint", "method.teacher", "train the teacher run first");
  }
  const std::string config_json = to_json(cfg);
  // Rank 0 alone changes the run's folder; the other ranks of a distributed run read it after.
  const dist::World& world = dist::world();
  if (world.leader()) {
    if (const std::string inputs = train_inputs(cfg); !inputs.empty())
      restart_if_inputs_changed(dir, nlohmann::json::parse(inputs));
    fs::create_directories(dir);
    io::write_file_atomic((fs::path(dir) / "config.json").string(), config_json);
  }
  world.barrier("the training folder's setup");
  auto batches = make_training_source(cfg, device);
  auto model = make_model(cfg.model, batches->sample_shape());
  for (const auto& shape : batches->sample_shapes())  // one model across the data's shapes
    RF_CHECK(model->takes_shape(shape),
             describe_model(cfg.model) + " cannot take the data's " + c10::str(shape) + " samples beside " +
                 c10::str(batches->sample_shape()),
             "model", "train one model across shapes with arch = dit and model.dit.rope = true, or draw one shape");
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
    for (const auto& shape : batches->sample_shapes())
      RF_CHECK(teacher_field->takes_shape(shape), "the teacher does not draw the data's " + c10::str(shape) + " samples",
               "method.teacher", "use a teacher trained on the same data");
  }
  spdlog::info("train: {} coupling, {} ({} parameters), method {}, {} steps × batch {} → {}", cfg.data.coupling,
               describe_model(cfg.model), count_parameters(*model), method->name(), cfg.train.steps,
               cfg.train.batch_size, dir);
  Trainer trainer(cfg.train, model, *method, *batches, dir, config_json, device,
                  std::shared_ptr<const Path>(make_path(cfg.method.path)), teacher_field);
  TrainResult r = trainer.run(stop_at);
  spdlog::info("train: reached step {} (loss {:.5f}, {:.1f} steps/s), checkpoint {}", r.step, r.last_loss,
               r.steps_per_s, r.checkpoint);
}

void stage_train(StageContext& ctx) { train_run(ctx.cfg, ctx.run_dir, ctx.device); }

}  // namespace rflow
