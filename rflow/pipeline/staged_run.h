// Runs made of named stages that remember what they read (`rflow text train`, `rflow vl train`):
// a finished stage leaves stages/<name>.done with the config keys it read and is skipped on rerun
// while they hold; when they change, or a stage before it reran, its outputs are removed and it
// runs again; a crashed stage resumes. Also loads such a run's config from TOML or its config.json.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "rflow/core/config.h"
#include "rflow/io/atomic_file.h"

namespace rflow {

// The top of every such run's config: where it lives, its seed, threads and logging.
struct KeyedRunBase {
  std::string name;
  std::string out_dir = "runs";
  int64_t seed = 0;
  int64_t threads = 0;
  std::string log_level = "info";

  template <class V>
  void visit_base(V& v) {
    v("name", name, "run name: the run directory is out_dir/name");
    v("out_dir", out_dir, "parent directory of run directories");
    v("seed", seed, "seed of every random draw");
    v("threads", threads, "intra-op CPU threads (0 = the cores other processes leave free)");
    v("log_level", log_level, "trace | debug | info | warn | error");
  }
  std::string run_dir() const { return (std::filesystem::path(out_dir) / name).string(); }
  // name and out_dir of the run directory `dir`, wherever it was moved.
  void place_at(const std::string& dir) {
    const std::filesystem::path d = std::filesystem::absolute(dir).lexically_normal();
    const std::filesystem::path clean = d.filename().empty() ? d.parent_path() : d;
    name = clean.filename().string();
    out_dir = clean.parent_path().string();
  }
};

struct KeyedStage {
  std::string name;
  std::function<void()> run;
  std::vector<std::string> reads;    // top-level config keys it depends on
  std::vector<std::string> outputs;  // paths in the run directory it makes ("x*": every name starting with x)
};

// Writes dir/config.json and runs `stages` in order; `named`: the caller asked for these stages by
// name, so each runs whatever its marker says.
void run_keyed_stages(const std::string& dir, const std::string& config_json, const std::vector<KeyedStage>& stages,
                      bool named);

// defaults < TOML file, or a run directory's config.json < overrides ("key=value"); validated. A run
// directory keeps its place wherever it was moved (name and out_dir follow the path).
template <class Config>
Config load_keyed_run_config(const std::string& path, const std::vector<std::string>& overrides,
                             const std::string& not_a_run) {
  namespace fs = std::filesystem;
  Config cfg;
  auto fields = config::fields_of(cfg);
  if (!path.empty()) {
    const bool dir = fs::is_directory(path);
    const std::string p = dir ? (fs::path(path) / "config.json").string() : path;
    io::check_readable_file(p, dir ? not_a_run : "check the path");
    if (p.size() >= 5 && p.compare(p.size() - 5, 5, ".json") == 0) config::load_json(fields, io::read_file(p), p);
    else config::load_toml_file(fields, p);
    if (dir) cfg.place_at(path);
  }
  for (const auto& o : overrides) config::apply_override(fields, o);
  cfg.validate();
  return cfg;
}

}  // namespace rflow
