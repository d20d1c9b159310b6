#include "rflow/automl/make_plan.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "rflow/automl/search_options.h"
#include "rflow/automl/step_probe.h"
#include "rflow/automl/warm_start.h"
#include "rflow/core/error.h"
#include "rflow/io/atomic_file.h"
#include "rflow/pipeline/run_config.h"

namespace fs = std::filesystem;

namespace rflow::automl {

namespace {

PlanRequest request_of(const std::string& data_card, const std::string& model_card, const PlanOptions& o, Probe probe) {
  PlanRequest r;
  r.data = DataCard::load(data_card);
  r.model = ModelCard::load(model_card);
  r.budget = r.data.budget;
  if (o.minutes > 0) r.budget.minutes = o.minutes;
  if (o.memory_gb > 0) r.budget.memory_gb = o.memory_gb;
  if (o.cores >= 0) r.budget.cores = o.cores;
  r.out_dir = fs::absolute(o.out.empty() ? "plans/" + r.data.name + "_" + r.model.name : o.out).lexically_normal().string();
  r.probe = probe ? probe : Probe(probe_training);
  r.llm_endpoint = o.llm_endpoint;
  if (r.llm_endpoint.empty())
    if (const char* e = std::getenv("RFLOW_LLM_ENDPOINT")) r.llm_endpoint = e;
  r.llm_model = o.llm_model;
  if (const char* k = std::getenv(o.llm_key_env.c_str())) r.llm_key = k;
  return r;
}

nlohmann::json plan_json(const PlanOutcome& p) {
  const DataCard& d = p.request.data;
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : p.plan.predicted_log)
    rows.push_back({{"steps", r.steps}, {"seconds", r.seconds}, {"metric", std::isfinite(r.metric) ? nlohmann::json(r.metric) : nlohmann::json()}});
  return {{"data", {{"name", d.name}, {"modality", d.modality}, {"description", d.description}, {"shape", d.shape}, {"size", d.size}, {"classes", d.classes}}},
          {"model", p.request.model.name},
          {"search", p.search_file.empty() ? "" : "search.toml"},
          {"run", "run.toml"},
          {"budget", {{"cores", p.plan.cores}, {"minutes", p.request.budget.minutes}, {"memory_gb", p.request.budget.memory_gb}}},
          {"probe", {{"seconds_per_step", p.plan.probe.seconds_per_step}, {"peak_memory_gb", p.plan.probe.peak_memory_gb}}},
          {"estimated_minutes", p.plan.estimated_minutes},
          {"threads", p.plan.threads},
          {"workers", p.plan.workers},
          {"notes", p.plan.notes},
          {"predicted_log", rows},
          {"metric_source", p.plan.metric_source},
          {"prompt", p.plan.prompt}};
}

}  // namespace

PlanOutcome make_plan(const std::string& data_card, const std::string& model_card, PlanOptions o, Probe probe) {
  PlanOutcome out;
  out.request = request_of(data_card, model_card, o, probe);
  out.dir = out.request.out_dir;
  const std::string root = o.studies.empty() ? fs::path(out.dir).parent_path().string() : o.studies;
  for (const auto& e : nearest_plans(out.request.data, out.request.model.name, root, size_t(std::max<int64_t>(0, o.neighbours))))
    if (fs::absolute(e.search_file).parent_path().lexically_normal() != fs::path(out.dir))  // not the plan being remade
      out.request.warm_start.push_back(fs::absolute(e.search_file).lexically_normal().string());
  out.plan = planners().get(o.planner, "--planner")()->plan(out.request);
  out.run_config = (fs::path(out.dir) / "run.toml").string();
  out.search_file = (fs::path(out.dir) / "search.toml").string();
  // Neighbours' best first, then the plan's own default, so the search never ends worse than it.
  std::string warm = "warm_start=[";
  for (const auto& w : out.request.warm_start) warm += "\"" + w + "\", ";
  out.plan.search_settings.push_back(warm + "\"" + out.run_config + "\"]");
  fs::create_directories(out.dir);
  const std::string made = fmt::format("# Planned by `rflow auto plan {} {}` ({} planner).", data_card, model_card, o.planner);
  io::write_file_atomic(out.run_config, run_config_toml(out.plan, made + " Train it: rflow run run.toml"));
  // A policy's objective is its task run closed loop (rflow policy), which rungs do not score yet.
  const bool searchable = modality_of(out.request.data.modality, data_card).searched;
  if (searchable) io::write_file_atomic(out.search_file, search_file_toml(out.plan, made + " Search it: rflow auto search search.toml"));
  else out.search_file.clear(), out.plan.notes.push_back("no search: a policy is judged closed loop by `rflow policy`, which a search's rungs do not run; train run.toml");
  io::write_file_atomic((fs::path(out.dir) / "prompt.txt").string(), out.plan.prompt + "\n");
  load_run_config(out.run_config, {});             // both load, or the plan is refused here
  if (searchable) SearchOptions::load(out.search_file, {});
  io::write_file_atomic((fs::path(out.dir) / "plan.json").string(), plan_json(out).dump(2) + "\n");
  return out;
}

std::string describe_plan(const PlanOutcome& p) {
  std::string s = "prompt:\n  " + p.plan.prompt + "\n\nplan:\n";
  for (const auto& n : p.plan.notes) s += "  - " + n + "\n";
  s += "\npredicted training log (time measured on this machine; metric: " + (p.plan.metric_source.empty() ? std::string("no earlier study to go by") : p.plan.metric_source) + "):\n";
  s += fmt::format("  {:>8} {:>10} {:>10}\n", "steps", "seconds", "metric");
  for (const auto& r : p.plan.predicted_log)
    s += fmt::format("  {:>8} {:>10.1f} {:>10}\n", r.steps, r.seconds, std::isfinite(r.metric) ? fmt::format("{:.4g}", r.metric) : "-");
  s += fmt::format("\nsearch: {} parameters, {} worker(s) × {} thread(s), at most {:.1f} of {} minutes; warm start: {}\n", p.plan.space.params.size(),
                   p.plan.workers, p.plan.threads, p.plan.estimated_minutes, p.request.budget.minutes,
                   p.request.warm_start.empty() ? std::string("the plan's default") : std::to_string(p.request.warm_start.size()) + " earlier plan(s), then the default");
  if (p.search_file.empty()) return s + "\nnext:\n  rflow run " + p.run_config + "\n";
  s += "\nnext:\n  rflow auto search " + p.search_file + "\n  rflow auto best " + p.search_file + " -o best.toml\n  rflow run " + p.run_config +
       "   # the default, untuned\n";
  return s;
}

}  // namespace rflow::automl
