#include "rflow/serve/served_models.h"

#include <algorithm>
#include <filesystem>

#include "rflow/core/error.h"
#include "rflow/serve/batcher.h"
#include "rflow/serve/endpoint.h"
#include "rflow/core/fingerprint.h"
#include "rflow/pipeline/policy/policy_task.h"
#include "rflow/train/checkpoint.h"

namespace fs = std::filesystem;

namespace rflow::serve {

namespace {

// A run's name is its folder's; a checkpoint's (runs/x/checkpoints/step_00001000) its run's.
std::string name_of(const std::string& path) {
  fs::path p = fs::path(path).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  if (p.parent_path().filename() == "checkpoints") p = p.parent_path().parent_path();
  std::string n = p.stem().string();
  return n.empty() ? "model" : n;
}

std::string fingerprint_of(const std::string& checkpoint) {
  if (fs::is_directory(checkpoint)) return checkpoint_fingerprint(checkpoint);
  return fingerprint_hex(fingerprint_file(checkpoint, kFingerprintSeed));
}

}  // namespace

ServedModel::ServedModel() = default;
ServedModel::~ServedModel() = default;

void ServedModels::enable_batching(const BatchOptions& opt) {
  if (opt.wait_ms <= 0) return;
  for (auto& m : models_) m->batcher = std::make_unique<Batcher>(*m, opt);
}

nlohmann::json ServedModel::describe() const {
  const Distribution& target = m.data->target();
  nlohmann::json shapes = nlohmann::json::array();
  for (const auto& s : target.sample_shapes()) shapes.push_back(s);
  nlohmann::json cond = nlohmann::json::object();
  if (m.cfg.model.num_classes > 0) cond["labels"] = m.cfg.model.num_classes;
  if (target.context_len() > 0) cond["prompt"] = true;
  if (target.obs_dim() > 0) cond["observation"] = target.obs_dim();
  // A policy's task says what POST /v1/policy/evaluate does with it ("maze": episodes to watch).
  nlohmann::json task = nullptr;
  if (target.obs_dim() > 0) task = policy_task_name(m.cfg.data.target.name);
  const SolveOptions& so = m.cfg.sample.solve;
  return {{"name", name},
          {"kind", kind},
          {"sample_shape", m.model->sample_shape()},
          {"sample_shapes", shapes},
          {"conditioning", cond},
          {"task", task},
          {"default_solver", {{"solver", so.method}, {"steps", so.steps}, {"guidance", m.cfg.sample.field.guidance}}},
          {"step", m.step},
          {"fingerprint", fingerprint}};
}

ServedModels::ServedModels(const std::vector<std::string>& paths, c10::Device device) {
  RF_CHECK(!paths.empty(), "no models to serve", "rflow serve", "name one or more runs: rflow serve runs/demo_2d");
  for (const auto& path : paths) {
    auto sm = std::make_unique<ServedModel>();
    sm->m = load_model(path, /*use_ema=*/true, device);
    sm->device = device;
    std::string name = name_of(path);
    // Two runs of one name: the second is name-2, and so on.
    for (int k = 2; std::any_of(models_.begin(), models_.end(), [&](const auto& o) { return o->name == name; }); ++k)
      name = name_of(path) + "-" + std::to_string(k);
    sm->name = name;
    const Distribution& target = sm->m.data->target();
    sm->kind = target.obs_dim() > 0 ? "policy" : target.kind();
    sm->fingerprint = fingerprint_of(sm->m.checkpoint);
    models_.push_back(std::move(sm));
  }
}

ServedModel& ServedModels::get(const std::string& name) {
  if (name.empty()) return *models_.front();
  std::vector<std::string> names;
  for (auto& m : models_) {
    if (m->name == name) return *m;
    names.push_back(m->name);
  }
  const std::string near = closest_name(names, name);
  std::string all;
  for (const auto& n : names) all += (all.empty() ? "" : ", ") + n;
  throw HttpError(404, "no model '" + name + "'", "request field 'model'",
                  (near.empty() ? "" : "did you mean '" + near + "'? ") + "served: " + all);
}

}  // namespace rflow::serve
