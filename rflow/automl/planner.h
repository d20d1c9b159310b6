// From a data card and a model card to a plan: AutoML-GPT's prompt paragraph, a run config that
// fits the budget (seconds per step and peak memory measured on this machine), the search over
// it (typed space, the card's constraints, ASHA rungs sized to the budget, warm starts from the
// nearest earlier plans) and a predicted training log. Planners are registered by name: rules
// (deterministic, the default) and llm (an OpenAI-compatible endpoint proposes the settings).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rflow/automl/card.h"
#include "rflow/automl/search_options.h"
#include "rflow/core/registry.h"

namespace rflow::automl {

// What a probe of the planned run measured: seconds per training step, of one evaluation of the
// objective (a rung's cost), and peak memory.
struct ProbeResult {
  double seconds_per_step = 0;
  double eval_seconds = 0;
  double peak_memory_gb = 0;  // the process's peak (what a trial needs)
  double growth_gb = 0;       // of which training grew (scales with the batch)
};
// Times a few training steps of the run config given as settings (threads as set there), then one
// evaluation of the objective (none when its metric is empty).
using Probe = std::function<ProbeResult(const std::vector<std::string>& settings, int64_t steps, const ObjectiveOptions& objective)>;

struct PlanRequest {
  DataCard data;
  ModelCard model;
  Budget budget;                        // the data card's, with the command line's changes
  std::string out_dir;                  // run.toml, search.toml, prompt.txt, plan.json go here
  std::vector<std::string> warm_start;  // search files of the nearest earlier plans (their best first)
  Probe probe;                          // measures the planned run (tests give a model of it)
  // The llm planner's endpoint (http[s]://host[:port]), model and key; unused by rules.
  std::string llm_endpoint, llm_model, llm_key;
};

struct PredictedRow {
  int64_t steps = 0;
  double seconds = 0;  // measured seconds per step × steps (+ the rungs' evaluations)
  double metric = 0;   // from the nearest earlier study's best curve (NaN: no earlier study)
};

struct Plan {
  std::string prompt;                      // the paragraph a language model would be given
  std::vector<std::string> run_settings;   // the run config, as key=value (TOML values)
  std::vector<std::string> search_settings;  // the search file's scalar settings (key=value)
  SearchSpace space;
  std::vector<Constraint> constraints;
  ProbeResult probe;
  int64_t cores = 1, threads = 1, workers = 1;
  double estimated_minutes = 0;            // the search's worst case: its minutes + one full trial
  std::vector<std::string> notes;          // each choice and why (data processing, architecture, ...)
  std::vector<PredictedRow> predicted_log;
  std::string metric_source;               // where predicted_log's metric comes from ("": nowhere)
};

class Planner {
 public:
  virtual ~Planner() = default;
  virtual Plan plan(const PlanRequest& request) = 0;
};

using PlannerFactory = std::function<std::unique_ptr<Planner>()>;
Registry<PlannerFactory>& planners();

// AutoML-GPT's fixed-format paragraph: the data card, the model card, the metric and requests.
std::string compose_prompt(const DataCard& data, const ModelCard& model, const Budget& budget);

// The rules planner's plan; the llm planner starts from it and changes the settings it may.
Plan plan_by_rules(const PlanRequest& request);

// run.toml / search.toml text of a plan (search_path's directory is where run.toml lies).
std::string run_config_toml(const Plan& plan, const std::string& header);
std::string search_file_toml(const Plan& plan, const std::string& header);

}  // namespace rflow::automl
