#include "rflow/pipeline/policy/policy_eval.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/core/rng.h"
#include "rflow/io/html_report.h"
#include "rflow/io/svg.h"
#include "rflow/pipeline/policy/policy_task.h"
#include "rflow/pipeline/report/report_parts.h"

namespace rflow {

namespace {

// The summary as a reader wants it: the task's column names where it has them, else the key in
// words; fractions rounded to 4 significant digits, counts and words as they are.
std::vector<std::pair<std::string, std::string>> readable_facts(const nlohmann::json& summary, const PolicyTaskEntry& task) {
  std::vector<std::pair<std::string, std::string>> facts;
  for (const auto& [k, v] : summary.items()) {
    if (k == "per_obs") continue;
    std::string name = readable_term(k);
    for (const auto& [column, key] : task.columns)
      if (key == k) name = column;
    const std::string value = v.is_string() ? v.get<std::string>() : v.is_number_float() ? short_number(v.get<double>()) : v.dump();
    facts.emplace_back(name, value);
  }
  return facts;
}

}  // namespace

void write_policy_report(const LoadedModel& m, const PolicyEvaluation& e, const std::string& path) {
  namespace fs = std::filesystem;
  // The run directory: above checkpoints/step_*, else the checkpoint's own folder.
  fs::path run = fs::path(m.checkpoint);
  if (run.parent_path().filename() == "checkpoints") run = run.parent_path().parent_path();
  io::HtmlReport rep("rflow policy: " + m.cfg.name);
  rep.heading("Evaluation");
  rep.key_values(readable_facts(e.summary, policy_task(m.cfg.data.target.name)));
  if (e.summary.contains("per_obs")) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : e.summary.at("per_obs"))
      rows.push_back({short_number(r.at("obs").get<double>()), short_number(r.at("nfe_mean").get<double>()),
                      short_number(r.at("action_abs_mean").get<double>()), short_number(r.at("share_positive").get<double>())});
    rep.table({"observation", "mean NFE", "mean |action|", "share > 0"}, rows);
  }
  std::vector<std::pair<std::string, std::string>> figures;
  if (!e.svg.empty())
    figures.emplace_back(policy_task(m.cfg.data.target.name).picture, e.svg);
  for (auto& f : training_figures((run / "metrics.jsonl").string())) figures.push_back(std::move(f));
  if (!figures.empty()) {
    rep.heading("Pictures");
    rep.figure_row(figures);
  }
  rep.heading("Run");
  rep.key_values(run_metadata(run.string()));
  rep.collapsed("config: keys that differ from the defaults", non_default_keys(m.cfg));
  rep.save(path);
}

void PolicyEvalOptions::validate(const std::string& where) const {
  solve.validate(where);
  field.validate(where);
  RF_CHECK(episodes >= 1, "episodes must be >= 1", where + ".episodes", "e.g. 100");
  RF_CHECK(execute >= 1, "execute must be >= 1", where + ".execute", "AdaFlow carries out 2 moves per chunk");
  RF_CHECK(samples >= 1, "samples must be >= 1", where + ".samples", "e.g. 200");
  RF_CHECK(seed >= 0, "seed must be >= 0", where + ".seed", "");
}

PolicyEvaluation evaluate_policy(LoadedModel& m, const PolicyEvalOptions& opt) {
  RF_CHECK(m.data && m.data->target().obs_dim() > 0, "not a policy: its data draws no observations", m.checkpoint,
           "policies train on data.target.name = maze, fork1d or demos");
  opt.validate("policy eval");
  torch::NoGradGuard ng;
  seed_all(opt.seed);
  return policy_task(m.cfg.data.target.name).evaluate(m, opt);
}

}  // namespace rflow
