#include "rflow/vl/vl_run.h"

#include <filesystem>

#include <spdlog/spdlog.h>

#include "rflow/core/thread_policy.h"
#include "rflow/io/remove_tree.h"
#include "rflow/pipeline/staged_run.h"
#include "rflow/vl/vl_eval.h"
#include "rflow/vl/vl_report.h"
#include "rflow/vl/vl_training.h"

namespace rflow {

namespace fs = std::filesystem;

namespace {

void train_stage(const std::string& which, const VlRunConfig& cfg, const std::string& dir) {
  const VlTrainResult r = train_vl_model(cfg, dir, which);
  spdlog::info("{}: loss {:.4f}, answer-token accuracy {:.4f}, {} parameters, {:.0f} s", which, r.loss, r.accuracy,
               r.parameters, r.seconds);
}

}  // namespace

Registry<VlStage>& vl_stages() {
  static Registry<VlStage> reg = [] {
    Registry<VlStage> r("vl stage");
    const std::vector<std::string> model_keys{"seed", "data", "tiling", "model", "train"};
    r.add("train", "the model with dynamic tiling: global view + local tiles (model/)",
          {[](const VlRunConfig& c, const std::string& d) { train_stage("model", c, d); }, model_keys, {"model"}});
    r.add("baseline", "the same model on every image letterboxed into one tile (baseline/)",
          {[](const VlRunConfig& c, const std::string& d) { train_stage("baseline", c, d); }, model_keys, {"baseline"}});
    r.add("eval", "exact-match answers per layout and question, tiling vs resize; MLA decoding numbers (eval.json)",
          {[](const VlRunConfig&, const std::string& d) { evaluate_vl_run(d); }, {"eval", "decode"}, {"eval.json"}});
    r.add("report", "report.html: accuracy tables, curves, tiling pictures, answers; examples/<layout>.png to ask about",
          {[](const VlRunConfig&, const std::string& d) { write_vl_report(d); }, {}, {"report.html", "examples"}});
    return r;
  }();
  return reg;
}

std::string run_vl(const VlRunConfig& cfg, const VlRunOptions& o) {
  const std::string dir = cfg.run_dir();
  if (o.fresh && fs::exists(dir)) io::remove_tree(dir);
  VlRunConfig copy = cfg;
  apply_thread_setting(cfg.threads);
  std::vector<KeyedStage> stages;
  for (const auto& s : o.stages.empty() ? cfg.stages : o.stages) {
    const VlStage& stage = vl_stages().get(s, "stages");
    stages.push_back({s, [&cfg, &stage, &dir] { stage.run(cfg, dir); }, stage.reads, stage.outputs});
  }
  run_keyed_stages(dir, to_json(copy), stages, !o.stages.empty());
  return dir;
}

}  // namespace rflow
