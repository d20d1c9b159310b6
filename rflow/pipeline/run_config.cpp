#include "rflow/pipeline/run_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "rflow/core/config.h"
#include "rflow/core/error.h"
#include "rflow/eval/fidnet.h"
#include "rflow/io/atomic_file.h"
#include "rflow/methods/distill.h"
#include "rflow/methods/janusflow_method.h"
#include "rflow/pipeline/stages.h"
#include "rflow/solve/solver.h"

namespace rflow {

void SampleConfig::validate(const std::string& where) const {
  solve.validate(where);
  field.validate(where);
  RF_CHECK(n >= 1, "n must be >= 1", where + ".n", "");
}

void DistillRunConfig::validate(int64_t rounds, const std::string& where) const {
  for (auto k : from)
    RF_CHECK(k >= 1 && k <= rounds + 1, "cannot distill from " + std::to_string(k) + "-RF",
             where + ".from", "reflow.rounds = " + std::to_string(rounds) + " makes 1-RF … " + std::to_string(rounds + 1) + "-RF");
  train.validate(where + ".train");
}

void EvalConfig::validate(const std::string& where) const {
  RF_CHECK(!nfe.empty(), "nfe list is empty", where + ".nfe", "e.g. [1, 2, 4, 8, 100]");
  for (auto k : nfe) RF_CHECK(k >= 1, "nfe entries must be >= 1", where + ".nfe", "");
  for (const auto& s : solvers) rflow::solvers().get(s, where + ".solvers");
  RF_CHECK(n >= 2 && n <= 100000, "n must be in [2, 100000]", where + ".n", "typical: 2000 for points (exact W2 is O(n^3), at most 5000), 10000 for images");
  RF_CHECK(straightness_steps >= 1, "straightness_steps must be >= 1", where + ".straightness_steps", "");
  RF_CHECK(batch >= 1, "batch must be >= 1", where + ".batch", "500 keeps 10k images in a few hundred MB");
  RF_CHECK(trajectories >= 0, "trajectories must be >= 0", where + ".trajectories", "");
  RF_CHECK(sliced_projections >= 1, "sliced_projections must be >= 1", where + ".sliced_projections", "");
  RF_CHECK(likelihood_n >= 1, "likelihood_n must be >= 1", where + ".likelihood_n", "or set eval.likelihood = false");
  solve.validate(where);
  field.validate(where);
  RF_CHECK(solve.t0 == 0.0 && solve.t1 == 1.0 && solve.grid.empty() && solve.max_nfe == 0,
           "the eval scores finished samples (noise at t = 0 carried to t = 1)", where + ".t0/t1/grid/max_nfe",
           "leave them at their defaults; budgets and other intervals are for `rflow sample`");
}

void register_builtin_extensions() {
  eval::add_fidnet_distance(feature_distances());
  eval::add_fidnet_repa_target(repa_targets());
}

void RunConfig::validate() const {
  register_builtin_extensions();
  RF_CHECK(!name.empty() && name.find('/') == std::string::npos && name != "." && name != "..",
           "name must be a plain directory name", "name", "e.g. demo_2d");
  RF_CHECK(name.size() <= 200, "name is " + std::to_string(name.size()) + " bytes long (at most 200)", "name",
           "a short directory name, e.g. demo_2d");
  RF_CHECK(std::none_of(name.begin(), name.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }),
           "name holds control characters", "name", "letters, digits, - and _, e.g. demo_2d");
  RF_CHECK(threads >= 0 && threads <= 1024, "threads must be in [0, 1024]", "threads", "0 = the cores other processes leave free");
  for (const auto& s : stages) rflow::stages().get(s, "stages");
  RF_CHECK(device == "cpu" || device.rfind("cuda", 0) == 0, "unknown device '" + device + "'", "device",
           "use cpu or cuda[:N]");
  data.validate();
  model.validate();
  method.validate();
  train.validate();
  sample.validate();
  eval.validate();
  reflow.validate();
  distill.validate(reflow.rounds);
  // A student distilled with the evaluator's own features would be graded by what it was trained to
  // match (InstaFlow distils with LPIPS, not with FID's Inception net, for this reason).
  const auto& dc = method.get<DistillConfig>("distill");
  const bool distils = methods().get(method.name, "method.name").distills ||
                       std::count(stages.begin(), stages.end(), "distill") > 0;
  const bool evaluated = std::count(stages.begin(), stages.end(), "eval") > 0;
  RF_CHECK(!(distils && evaluated && dc.loss == "feature" && dc.feature == "fidnet" && eval.fidnet.empty() &&
             !dc.allow_eval_network),
           "the distillation loss is the FID-proxy's own network, and this run is evaluated by it",
           "method.distill.feature",
           "use feature = \"percept\" (the shipped loss network), or set method.distill.allow_eval_network = true to do "
           "it anyway (the report then marks its figures as evaluated by the loss network)");
  const std::string& only = methods().get(method.name, "method.name").backbone;
  RF_CHECK(only.empty() || model.arch == only, "method " + method.name + " trains the " + only + " backbone, not " + model.arch,
           "model.arch", "set model.arch = \"" + only + "\" (or pick another method)");
  RF_CHECK((model.num_classes > 0) == data.labels, "a class-conditional model needs labelled data and vice versa",
           "model.num_classes / data.labels", "set both (e.g. num_classes = 8 with data.labels = true on 8gaussians) or neither");
}

std::string RunConfig::run_dir() const { return (std::filesystem::path(out_dir) / name).string(); }

RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides) {
  RunConfig cfg;
  auto fields = config::fields_of(cfg);
  if (!path.empty()) {
    // A run directory (or its config.json) stands for the config it was made with: re-running it
    // with other eval settings needs no copy of the TOML. The run stays where it is, even if it was
    // moved or copied since (its stored out_dir/name would otherwise start a fresh run elsewhere).
    namespace fs = std::filesystem;
    fs::path dir = fs::is_directory(path) ? fs::path(path) : fs::path();
    if (dir.empty() && fs::path(path).filename() == "config.json" && fs::is_directory(fs::path(path).parent_path() / "stages"))
      dir = fs::path(path).parent_path();
    const std::string p = dir.empty() ? path : (dir / "config.json").string();
    if (p.size() >= 5 && p.compare(p.size() - 5, 5, ".json") == 0) {
      RF_CHECK(fs::exists(p), "no config file", p, "pass a TOML config, a run directory or its config.json");
      config::load_json(fields, io::read_file(p), p);
    } else {
      config::load_toml_file(fields, path);
    }
    if (!dir.empty()) {
      dir = dir.lexically_normal();
      if (dir.filename().empty()) dir = dir.parent_path();  // a trailing '/'
      if (dir.filename() == "." || dir.filename() == "..") dir = fs::absolute(dir).lexically_normal();
      if (dir.filename().empty()) dir = dir.parent_path();
      cfg.name = dir.filename().string();
      cfg.out_dir = dir.has_parent_path() ? dir.parent_path().string() : ".";
    }
  }
  for (const auto& o : overrides) config::apply_override(fields, o);
  cfg.validate();
  return cfg;
}

RunConfig run_config_from_json(const std::string& json, const std::string& where) {
  RunConfig cfg;
  config::load_json(config::fields_of(cfg), json, where);
  return cfg;
}

std::string to_json(RunConfig& cfg) { return config::to_json(config::fields_of(cfg)); }

}  // namespace rflow
