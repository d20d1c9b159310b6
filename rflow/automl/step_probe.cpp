#include "rflow/automl/step_probe.h"

#include <chrono>
#include <filesystem>

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "rflow/automl/trial.h"
#include "rflow/core/memory_usage.h"
#include "rflow/io/remove_tree.h"
#include "rflow/pipeline/run_config.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/pipeline/stages.h"

namespace fs = std::filesystem;

namespace rflow::automl {

namespace {

double timed_run(std::vector<std::string> settings, int64_t steps, const fs::path& dir) {
  settings.insert(settings.end(), {"train.steps=" + std::to_string(steps), "train.ckpt_every=1000000000", "train.log_every=1000000000",
                                   "train.warmup=0", "stages=[\"train\"]"});
  const RunConfig cfg = load_run_config("", settings);
  const c10::Device device = setup_device(cfg);
  const auto t0 = std::chrono::steady_clock::now();
  train_run(cfg, dir.string(), device, steps);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

ProbeResult probe_training(const std::vector<std::string>& settings, int64_t steps, const ObjectiveOptions& objective) {
  const fs::path root = fs::temp_directory_path() / ("rflow_probe_" + std::to_string(::getpid()));
  io::remove_tree(root);
  // However it ends: the probe's runs removed and the log level back.
  struct Restore {
    fs::path p;
    spdlog::level::level_enum level;
    ~Restore() {
      std::error_code ec;
      io::remove_tree(p, ec);
      spdlog::set_level(level);
    }
  } restore{root, spdlog::get_level()};
  spdlog::set_level(spdlog::level::warn);  // two short runs: their logs would only be noise
  const int64_t before = current_rss_bytes();
  reset_peak_rss();
  const int64_t quarter = std::max<int64_t>(1, steps / 4);
  const double t_short = timed_run(settings, quarter, root / "short"), t_long = timed_run(settings, steps, root / "long");
  double t_eval = 0;
  if (!objective.metric.empty()) {
    const auto t0 = std::chrono::steady_clock::now();
    score_run((root / "long").string(), objective, 0);
    t_eval = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  ProbeResult r;
  r.eval_seconds = t_eval;
  // Start-up noise can swamp a difference of fast steps: then the whole long run per step, an upper bound.
  const double diff = (t_long - t_short) / double(steps - quarter), whole = t_long / double(steps);
  r.seconds_per_step = diff > 0.05 * whole ? diff : whole;
  r.peak_memory_gb = double(peak_rss_bytes()) / double(1ull << 30);
  r.growth_gb = double(std::max<int64_t>(0, peak_rss_bytes() - before)) / double(1ull << 30);
  return r;
}

}  // namespace rflow::automl
