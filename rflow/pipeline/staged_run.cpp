#include "rflow/pipeline/staged_run.h"

#include <chrono>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "rflow/core/memory_usage.h"
#include "rflow/io/remove_tree.h"

namespace rflow {

namespace fs = std::filesystem;

namespace {

// The part of the config a stage reads.
nlohmann::json keyed_reads(const nlohmann::json& config, const std::vector<std::string>& keys) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& k : keys)
    if (config.contains(k)) out[k] = config[k];
  return out;
}

nlohmann::json keyed_marker(const fs::path& f) {
  if (!fs::exists(f)) return nullptr;
  const auto j = nlohmann::json::parse(io::read_file(f.string()), nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j.value("reads", nlohmann::json(nullptr));
}

void clear_stage_outputs(const std::string& dir, const std::vector<std::string>& outputs) {
  for (const auto& o : outputs) {
    const fs::path p = fs::path(dir) / o;
    if (o.back() != '*') {
      if (fs::exists(fs::symlink_status(p))) io::remove_tree(p);
      continue;
    }
    const std::string prefix = p.filename().string().substr(0, p.filename().string().size() - 1);
    if (!fs::is_directory(p.parent_path())) continue;
    for (const auto& e : fs::directory_iterator(p.parent_path()))
      if (e.path().filename().string().rfind(prefix, 0) == 0) io::remove_tree(e.path());
  }
}

}  // namespace

void run_keyed_stages(const std::string& dir, const std::string& config_json, const std::vector<KeyedStage>& stages,
                      bool named) {
  fs::create_directories(fs::path(dir) / "stages");
  io::write_file_atomic((fs::path(dir) / "config.json").string(), config_json + "\n");
  const auto config = nlohmann::json::parse(config_json);
  bool rerun_rest = false;  // what follows a stage that ran reads what it made
  for (const KeyedStage& stage : stages) {
    const std::string& s = stage.name;
    const fs::path done = fs::path(dir) / "stages" / (s + ".done"), started = fs::path(dir) / "stages" / (s + ".started");
    const auto reads = keyed_reads(config, stage.reads);
    // Stages asked for by name always run; otherwise a finished one is kept while its keys hold.
    if (!named && !rerun_rest && keyed_marker(done) == reads) {
      spdlog::info("stage {}: done before, skipped", s);
      continue;
    }
    // A stage that crashed resumes where it stopped, unless a stage before it has just rerun.
    const bool resume = !rerun_rest && !fs::exists(done) && keyed_marker(started) == reads;
    rerun_rest = true;
    fs::remove(done);
    if (!resume) clear_stage_outputs(dir, stage.outputs);
    io::write_file_atomic(started.string(), nlohmann::json{{"reads", reads}}.dump() + "\n");
    const auto t0 = std::chrono::steady_clock::now();
    spdlog::info("stage {}: {}", s, resume ? "resuming" : "start");
    stage.run();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    io::write_file_atomic(done.string(), nlohmann::json{{"reads", reads}, {"seconds", secs}, {"peak_rss_mb", double(peak_rss_bytes()) / 1e6}}.dump() + "\n");
    spdlog::info("stage {}: done in {:.1f} s", s, secs);
  }
}

}  // namespace rflow
