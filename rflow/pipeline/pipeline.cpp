#include "rflow/pipeline/pipeline.h"

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "rflow/core/error.h"
#include "rflow/core/memory_usage.h"
#include "rflow/core/system_info.h"
#include "rflow/core/log.h"
#include "rflow/io/atomic_file.h"
#include "rflow/io/directory_lock.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/pipeline/stages.h"

namespace fs = std::filesystem;

namespace rflow {

namespace {

// Keys that may change between reruns of the same run without invalidating its results (out_dir
// and name only say where the run is: a moved run is still the same run).
bool is_cosmetic(const std::string& key) {
  return key == "stages" || key == "log_level" || key == "threads" || key == "device" || key == "out_dir" ||
         key == "name";
}

// Keys that only say how the trained models are sampled and measured (a stage's output_section):
// changing them reruns the stages that read them (each eval result records the settings it was
// made with) and keeps the models, so a run can be re-evaluated with another n, NFE list or tolerance.
bool is_output_only(const std::string& key) {
  for (const auto& name : stages().names()) {
    const std::string& section = stages().get(name).output_section;
    if (!section.empty() && key.rfind(section + ".", 0) == 0) return true;
  }
  return false;
}

void diff_json(const nlohmann::json& a, const nlohmann::json& b, const std::string& prefix,
               std::vector<std::string>& out) {
  for (auto it = a.begin(); it != a.end(); ++it) {
    std::string key = prefix + it.key();
    if (!b.contains(it.key())) {
      out.push_back(key);
    } else if (it->is_object() && b[it.key()].is_object()) {
      diff_json(*it, b[it.key()], key + ".", out);
    } else if (*it != b[it.key()] && !is_cosmetic(key)) {
      out.push_back(key + " (" + it->dump() + " → " + b[it.key()].dump() + ")");
    }
  }
}

}  // namespace

std::string run_pipeline(RunConfig cfg, const PipelineOptions& opt) {
  cfg.validate();
  const std::string run_dir = cfg.run_dir();
  // Held until the run returns: a second `rflow run` (or --fresh) on this directory is refused.
  io::DirectoryLock lock(run_dir, "rflow run " + run_dir);
  if (opt.fresh) {
    spdlog::info("--fresh: removing the contents of {}", run_dir);
    for (const auto& e : fs::directory_iterator(run_dir))
      if (e.path().filename() != io::DirectoryLock::kFileName) fs::remove_all(e.path());
  }
  fs::create_directories(fs::path(run_dir) / "stages");
  const std::string config_json = to_json(cfg);
  const std::string config_path = (fs::path(run_dir) / "config.json").string();
  if (fs::exists(config_path)) {
    std::vector<std::string> diffs, outputs;
    // Through the config structs first: a run made before a key was renamed compares equal.
    RunConfig stored = run_config_from_json(io::read_file(config_path), config_path);
    diff_json(nlohmann::json::parse(to_json(stored)), nlohmann::json::parse(config_json), "", diffs);
    for (auto it = diffs.begin(); it != diffs.end();)
      if (is_output_only(*it)) outputs.push_back(*it), it = diffs.erase(it);
      else ++it;
    if (!outputs.empty() && diffs.empty()) {
      std::string list;
      for (const auto& d : outputs) list += (list.empty() ? "" : "; ") + d;
      spdlog::info("config: {} changed; the stages that read them will run again", list);
      const fs::path markers = fs::path(run_dir) / "stages";
      for (const auto& d : outputs)
        for (const auto& name : stages().names())
          if (stages().get(name).output_section == d.substr(0, d.find('.'))) fs::remove(markers / (name + ".done"));
      fs::remove(markers / "report.done");
    }
    if (!diffs.empty()) {
      std::string list;
      for (const auto& d : diffs) list += (list.empty() ? "" : "; ") + d;
      throw Error("run directory was made with a different config: " + list, run_dir,
                  "use another name (--set name=...) or pass --fresh to start this run over");
    }
  }
  io::write_file_atomic(config_path, config_json);

  StageContext ctx{cfg, run_dir, config_json, setup_device(cfg)};
  // Where the run's timings were measured, beside them (figures mean little without it).
  spdlog::info("machine: {}", system_info_summary());
  io::write_file_atomic((fs::path(run_dir) / "system.json").string(), system_info_json().dump(2) + "\n");
  const auto& stage_list = opt.stages.empty() ? cfg.stages : opt.stages;
  for (const auto& s : stage_list) stages().get(s, "stages");  // every name checked before anything runs
  const fs::path markers = fs::path(run_dir) / "stages";
  bool reran = false;  // once a stage runs, later stages' outputs are stale and run again
  for (const auto& stage : stage_list) {
    const StageEntry& entry = stages().get(stage, "stages");
    const fs::path marker = markers / (stage + ".done");
    const std::string inputs = entry.inputs ? entry.inputs(ctx) : std::string();
    if (fs::exists(marker) && !reran) {
      const auto done = nlohmann::json::parse(io::read_file(marker.string()), nullptr, false);
      const std::string recorded = done.is_object() ? done.value("inputs", std::string()) : std::string();
      if (recorded == inputs) {
        spdlog::info("stage {}: done already, skipping", stage);
        continue;
      }
      spdlog::info("stage {}: what it was made from changed since it ran; running it again", stage);
    }
    // A stage whose output only the report reads (sample) leaves the others valid; any other makes
    // every stage after it in the run's list stale, in this invocation and in later ones.
    if (!entry.invalidates_later) {
      fs::remove(markers / "report.done");
    } else {
      reran = true;
      auto it = std::find(cfg.stages.begin(), cfg.stages.end(), stage);
      for (auto later = it == cfg.stages.end() ? it : it + 1; later != cfg.stages.end(); ++later)
        fs::remove(markers / (*later + ".done"));
      fs::remove(markers / "report.done");
    }
    fs::remove(marker);
    spdlog::info("stage {}: running", stage);
    reset_peak_rss();
    auto t0 = std::chrono::steady_clock::now();
    entry.run(ctx);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double peak_mb = static_cast<double>(peak_rss_bytes()) / (1 << 20);
    nlohmann::json done{{"seconds", secs}, {"peak_rss_mb", peak_mb}};
    if (!inputs.empty()) done["inputs"] = inputs;
    io::write_file_atomic(marker.string(), done.dump() + "\n");
    spdlog::info("stage {}: done in {:.1f} s (peak memory {:.0f} MB)", stage, secs, peak_mb);
  }
  return run_dir;
}

}  // namespace rflow
