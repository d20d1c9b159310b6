#include "rflow/pipeline/pipeline.h"

#include <algorithm>
#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "rflow/core/error.h"
#include "rflow/core/memory_usage.h"
#include "rflow/core/system_info.h"
#include "rflow/core/log.h"
#include "rflow/eval/scorer.h"
#include "rflow/io/atomic_file.h"
#include "rflow/dist/world.h"
#include "rflow/io/directory_lock.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/pipeline/stage_keys.h"
#include "rflow/data/distribution.h"
#include "rflow/pipeline/stages.h"
#include "rflow/io/remove_tree.h"

namespace fs = std::filesystem;

namespace rflow {

namespace {

// Keys that may change between reruns of the same run without a word: where and how fast it runs.
bool is_cosmetic(const std::string& key) {
  return key == "stages" || key == "log_level" || key == "threads" || key == "device" || key == "out_dir" ||
         key == "name";
}

void diff_json(const nlohmann::json& a, const nlohmann::json& b, const std::string& prefix,
               std::vector<std::string>& out) {
  for (auto it = a.begin(); it != a.end(); ++it) {
    std::string key = prefix + it.key();
    if (!b.contains(it.key())) continue;
    if (it->is_object() && b[it.key()].is_object())
      diff_json(*it, b[it.key()], key + ".", out);
    else if (*it != b[it.key()] && !is_cosmetic(key))
      out.push_back(key);
  }
}

std::string joined(const std::vector<std::string>& v, const char* sep = "; ") {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// Compares every finished (or, for a model, started) stage's recorded config keys with `cfg`:
// a measuring stage whose keys changed runs again, a model whose keys changed is refused, and a
// key that no such stage read may change (stages added to a trained run read it when they run).
void check_recorded_keys(const RunConfig& cfg, const fs::path& run_dir) {
  const fs::path markers = run_dir / "stages";
  const fs::path config_path = run_dir / "config.json";
  std::optional<RunConfig> stored;  // for markers written before stages recorded the keys they read
  if (fs::exists(config_path)) stored = run_config_from_json(io::read_file(config_path.string()), config_path.string());
  std::vector<std::string> refused, rerun, rerun_why, explained;
  for (const auto& name : stages().names()) {
    const StageEntry& entry = stages().get(name);
    fs::path marker = markers / (name + ".done");
    if (!fs::exists(marker) && entry.makes_models) marker = markers / (name + ".started");
    if (!fs::exists(marker)) continue;
    const auto record = nlohmann::json::parse(io::read_file(marker.string()), nullptr, false);
    const nlohmann::json now = read_values(cfg, entry.reads(cfg));
    nlohmann::json then;
    if (record.is_object() && record.contains("reads"))
      then = record["reads"];
    else if (stored)
      then = read_values(*stored, entry.reads(*stored));
    std::vector<std::string> changed;
    for (const auto& [k, v] : now.items())
      if (then.is_object() && then.contains(k) && then[k] != v) {
        changed.push_back(k + " (" + then[k].dump() + " → " + v.dump() + ")");
        explained.push_back(k);
      }
    if (changed.empty()) continue;
    if (entry.makes_models) {
      refused.push_back(joined(changed) + ", read by the " + name + " stage");
    } else {
      rerun_why.push_back(fmt::format("config: {} changed since the {} stage ran; it runs again", joined(changed), name));
      rerun.push_back(name);
    }
  }
  if (!refused.empty())
    throw Error("run directory was made with a different config: " + joined(refused), run_dir.string(),
                "use another name (--set name=...) or pass --fresh to start this run over");
  for (const auto& why : rerun_why) spdlog::info("{}", why);
  for (const auto& name : rerun) fs::remove(markers / (name + ".done"));
  if (!rerun.empty()) fs::remove(markers / "report.done");
  if (stored) {  // say what changed without effect, so a typo in a value does not pass unnoticed
    RunConfig copy = cfg;
    std::vector<std::string> diffs, unread;
    diff_json(nlohmann::json::parse(to_json(*stored)), nlohmann::json::parse(to_json(copy)), "", diffs);
    for (const auto& d : diffs)
      if (std::find(explained.begin(), explained.end(), d) == explained.end()) unread.push_back(d);
    if (!unread.empty())
      spdlog::info("config: {} changed; no finished stage read {}", joined(unread, ", "), unread.size() == 1 ? "it" : "them");
  }
}

// Checkpoints anywhere in the run (the 1-RF's, the 2-RF's, the students'), counted.
int64_t checkpoints_in(const fs::path& run_dir) {
  int64_t n = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(run_dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it.depth() > 3) it.disable_recursion_pending();
    else if (it->is_directory() && it->path().filename().string().rfind("step_", 0) == 0) ++n;
  }
  return n;
}

// A stage that fails before it wrote a checkpoint made no model: its config keys are not frozen, so
// fixing the mistake (a teacher path, a data file) and running again is not refused.
void run_keeping_only_made_models(const StageEntry& entry, StageContext& ctx, const fs::path& started, bool resumed) {
  const int64_t before = entry.makes_models && !resumed ? checkpoints_in(ctx.run_dir) : -1;
  try {
    entry.run(ctx);
  } catch (...) {
    if (before >= 0 && checkpoints_in(ctx.run_dir) == before) fs::remove(started);
    throw;
  }
}

// What the listed stages need of the data, checked before the hours of training that precede them:
// policies (targets with observations) are judged in closed loop, not by the sample and eval
// stages' distances; the eval stage's scorer takes at most its max_n draws.
void check_stages_can_run(const RunConfig& cfg, const std::vector<std::string>& stage_list) {
  const auto target = make_distribution(cfg.data.target, {}, "data.target");
  if (std::count(stage_list.begin(), stage_list.end(), "eval") > 0 && eval::scorers().contains(target->kind())) {
    const int64_t max_n = eval::scorers().get(target->kind()).max_n;
    RF_CHECK(max_n == 0 || cfg.eval.n <= max_n,
             "eval.n = " + std::to_string(cfg.eval.n) + " is more than the " + target->kind() + " scorer takes (" +
                 std::to_string(max_n) + ")",
             "eval.n", "at most " + std::to_string(max_n) + "; 2000 is the usual");
  }
  if (std::any_of(stage_list.begin(), stage_list.end(), [](const std::string& s) { return s != "train"; }) &&
      target->obs_dim() > 0)
    throw Error("a policy run (data.target = " + cfg.data.target.name + ") has only the train stage so far",
                "stages", "set stages = [\"train\"], then judge the policy with `rflow policy eval " + cfg.run_dir() +
                "` or side by side with `rflow policy compare RUN… -o compare.html`");
}

// --fresh empties the directory: through a link it would empty the link's target, another run.
void check_fresh_is_not_a_link(const std::string& run_dir) {
  fs::path link = run_dir;  // "runs/alias/" names the link too
  while (!link.empty() && link.filename().empty()) link = link.parent_path();
  RF_CHECK(!fs::is_symlink(link),
           "the run directory is a symbolic link (to " + (fs::is_symlink(link) ? fs::read_symlink(link).string() : "") +
               "); --fresh would empty the folder it points to",
           run_dir, "pass the folder itself (set name / out_dir to it), or remove the link");
}

}  // namespace

namespace {

// Rank 0 of a distributed run (and a run alone) owns the run directory: its lock, --fresh, the
// config it records; the other ranks wait for it.
void prepare_run_dir(const RunConfig& cfg, const PipelineOptions& opt, const std::string& run_dir,
                     const std::string& config_json) {
  if (opt.fresh) {
    spdlog::info("--fresh: removing the contents of {}", run_dir);
    for (const auto& e : fs::directory_iterator(run_dir))
      if (e.path().filename() != io::DirectoryLock::kFileName) io::remove_tree(e.path());
  }
  fs::create_directories(fs::path(run_dir) / "stages");
  check_recorded_keys(cfg, run_dir);
  io::write_file_atomic((fs::path(run_dir) / "config.json").string(), config_json);
  // Where the run's timings were measured, beside them (figures mean little without it).
  spdlog::info("machine: {}", system_info_summary());
  io::write_file_atomic((fs::path(run_dir) / "system.json").string(), system_info_json().dump(2) + "\n");
}

// Whether a stage runs (its marker missing or stale), and the markers it makes stale.
bool stage_is_due(const StageEntry& entry, const std::string& stage, const RunConfig& cfg, const fs::path& markers,
                  const std::string& inputs, bool& reran) {
  const fs::path marker = markers / (stage + ".done");
  if (fs::exists(marker) && !reran) {
    const auto done = nlohmann::json::parse(io::read_file(marker.string()), nullptr, false);
    const std::string recorded = done.is_object() ? done.value("inputs", std::string()) : std::string();
    if (recorded == inputs) {
      spdlog::info("stage {}: done already, skipping", stage);
      return false;
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
  return true;
}


}  // namespace

std::string run_pipeline(RunConfig cfg, const PipelineOptions& opt) {
  cfg.validate();
  const auto& stage_list = opt.stages.empty() ? cfg.stages : opt.stages;
  for (const auto& s : stage_list)  // every name checked before anything is touched
    stages().get(s, opt.stages.empty() ? "stages" : "--stage " + s);
  check_stages_can_run(cfg, stage_list);
  const std::string run_dir = cfg.run_dir();
  const dist::World& world = dist::world();
  const bool leader = world.leader();
  if (opt.fresh && leader) check_fresh_is_not_a_link(run_dir);
  // Held until the run returns: a second `rflow run` (or --fresh) on this directory is refused.
  std::optional<io::DirectoryLock> lock;
  if (leader) lock.emplace(run_dir, "rflow run " + run_dir);
  const std::string config_json = to_json(cfg);
  // Threads and device first: the machine line and system.json then say what the run uses.
  const c10::Device device = setup_device(cfg);
  if (leader) prepare_run_dir(cfg, opt, run_dir, config_json);
  world.barrier("the run directory's setup", dist::kWaitForRank0);

  StageContext ctx{cfg, run_dir, config_json, device};
  const fs::path markers = fs::path(run_dir) / "stages";
  bool reran = false;  // once a stage runs, later stages' outputs are stale and run again
  for (const auto& stage : stage_list) {
    const StageEntry& entry = stages().get(stage, "stages");
    const std::string inputs = entry.inputs ? entry.inputs(ctx) : std::string();
    if (!world.agree(leader && stage_is_due(entry, stage, cfg, markers, inputs, reran), "whether stage " + stage + " runs"))
      continue;
    if (!leader) {
      if (entry.data_parallel) entry.run(ctx);
      world.barrier("rank 0 finishing stage " + stage, dist::kWaitForRank0);
      continue;
    }
    const fs::path marker = markers / (stage + ".done");
    const nlohmann::json reads = read_values(cfg, entry.reads(cfg));
    // A model half made is judged like a finished one: its checkpoints hold what these keys made.
    const fs::path started = markers / (stage + ".started");
    const bool resumed = fs::exists(started);
    if (entry.makes_models) io::write_file_atomic(started.string(), nlohmann::json{{"reads", reads}}.dump() + "\n");
    spdlog::info("stage {}: running", stage);
    reset_peak_rss();
    auto t0 = std::chrono::steady_clock::now();
    {
      // A stage rank 0 runs alone may use the cores of the ranks waiting for it.
      std::optional<dist::Rank0TakesIdleCores> cores;
      if (!entry.data_parallel) cores.emplace(world);
      run_keeping_only_made_models(entry, ctx, started, resumed);
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double peak_mb = static_cast<double>(peak_rss_bytes()) / (1 << 20);
    nlohmann::json done{{"seconds", secs}, {"peak_rss_mb", peak_mb}, {"reads", reads}};
    if (!inputs.empty()) done["inputs"] = inputs;
    io::write_file_atomic(marker.string(), done.dump() + "\n");
    fs::remove(started);
    spdlog::info("stage {}: done in {:.1f} s (peak memory {:.0f} MB)", stage, secs, peak_mb);
    world.barrier("rank 0 finishing stage " + stage, dist::kWaitForRank0);
  }
  return run_dir;
}

}  // namespace rflow
