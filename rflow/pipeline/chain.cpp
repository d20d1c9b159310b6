#include "rflow/pipeline/chain.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "rflow/core/error.h"
#include "rflow/io/atomic_file.h"
#include "rflow/methods/distill.h"

namespace fs = std::filesystem;

namespace rflow {

std::string rf_dir(const std::string& run_dir, int64_t k) {
  return k <= 1 ? run_dir : (fs::path(run_dir) / (std::to_string(k) + "rf")).string();
}

std::string pairs_dir(const std::string& run_dir, int64_t k) { return (fs::path(rf_dir(run_dir, k)) / "pairs").string(); }

std::string student_dir(const std::string& run_dir, int64_t k) {
  return (fs::path(run_dir) / ("distill_" + std::to_string(k) + "rf")).string();
}

std::vector<ChainModel> chain_models(const RunConfig& cfg, const std::string& run_dir) {
  std::vector<ChainModel> out;
  // The first model is what method.name trains: a 1-RF, or e.g. a PeRFlow student of another run.
  const std::string& label = methods().get(cfg.method.name, "method.name").label;
  const std::string first = label.empty() ? cfg.method.name : label;
  for (int64_t k = 1; k <= cfg.reflow.rounds + 1; ++k)
    out.push_back({k == 1 ? first : std::to_string(k) + "-RF", rf_dir(run_dir, k), k, false});
  const int64_t steps = cfg.method.get<DistillConfig>("distill").steps;
  for (auto k : cfg.distill.from)
    out.push_back({std::to_string(k) + "-RF + distill (" + std::to_string(steps) + (steps == 1 ? " step)" : " steps)"),
                   student_dir(run_dir, k), k, true});
  for (auto& m : out) m.eval_dir = (fs::path(m.dir) / "eval").string();
  return out;
}

std::vector<ChainModel> eval_views(const ChainModel& cm) {
  const fs::path list = fs::path(cm.eval_dir) / "views.json";
  if (!fs::exists(list)) return {cm};
  const auto views = nlohmann::json::parse(io::read_file(list.string()), nullptr, false);
  RF_CHECK(views.is_array() && !views.empty(), "malformed list of evaluated shapes", list.string(),
           "rerun the eval stage (it rewrites the list)");
  std::vector<ChainModel> out;
  for (const auto& v : views) {
    const bool named = v.is_object() && v.contains("name") && v["name"].is_string() && v.contains("shape") &&
                       v["shape"].is_array();
    const std::string name = named ? v["name"].get<std::string>() : "";
    // A name is one path component (it names a folder beside the list).
    RF_CHECK(!name.empty() && name.find_first_of("/\\") == std::string::npos && name != "." && name != "..",
             "malformed list of evaluated shapes", list.string(), "rerun the eval stage (it rewrites the list)");
    out.push_back(eval_view(cm, name, v["shape"].get<std::vector<int64_t>>()));
  }
  return out;
}

ChainModel eval_view(const ChainModel& cm, const std::string& name, const std::vector<int64_t>& shape) {
  ChainModel m = cm;
  m.label = cm.label + " · " + name;
  m.eval_dir = (fs::path(cm.eval_dir) / name).string();
  m.view = name;
  m.shape = shape;
  return m;
}

namespace {

// What a fine-tune of the k-RF inherits and what it changes: the coupling (the teacher's pairs, or
// the teacher itself online), the initial weights and the optimisation settings.
RunConfig derived(const RunConfig& cfg, const std::string& run_dir, int64_t k, const std::string& name,
                  const TrainConfig& train) {
  RunConfig sub = cfg;
  sub.out_dir = fs::path(rf_dir(run_dir, 1)).string();
  sub.name = name;
  sub.stages = {"train"};
  sub.reflow.rounds = 0;
  sub.distill.from.clear();
  sub.train = train;
  sub.train.init_from = rf_dir(run_dir, k);
  sub.method.teacher.clear();  // the derived model's teacher is the k-RF, through its pairs or init_from
  // Guidance is baked into pairs of a guided 1-RF; the models trained on them are used at scale 1.
  sub.eval.field.guidance = sub.sample.field.guidance = 1.0;
  sub.reflow.field.guidance = k == 1 ? cfg.reflow.field.guidance : 1.0;
  if (cfg.reflow.online) {
    sub.data.coupling = "online";
    sub.data.teacher = rf_dir(run_dir, k);
  } else {
    sub.data.coupling = "pairs";
    sub.data.pairs = pairs_dir(run_dir, k);
  }
  return sub;
}

}  // namespace

RunConfig reflow_run_config(const RunConfig& cfg, const std::string& run_dir, int64_t k) {
  RunConfig sub = derived(cfg, run_dir, k, std::to_string(k + 1) + "rf", cfg.reflow.train);
  sub.method.name = "rectified_flow";
  return sub;
}

RunConfig distill_run_config(const RunConfig& cfg, const std::string& run_dir, int64_t k) {
  RunConfig sub = derived(cfg, run_dir, k, "distill_" + std::to_string(k) + "rf", cfg.distill.train);
  sub.method.name = "distill";
  return sub;
}

}  // namespace rflow
