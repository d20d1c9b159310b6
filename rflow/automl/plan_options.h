// `rflow auto plan`'s settings (each a flag): which planner, where the plan goes, the budget's
// changes to the data card's, where earlier plans are looked for, and the language model's
// endpoint for the llm planner (its key is read from an environment variable, never a flag).
#pragma once

#include <cstdint>
#include <string>

namespace rflow::automl {

struct PlanOptions {
  std::string planner = "rules";
  std::string out;                       // default: plans/<data>_<model>
  std::string studies;                   // default: the folder above `out`
  int64_t neighbours = 2;
  double minutes = 0, memory_gb = 0;     // 0: the data card's budget
  int64_t cores = -1;                    // -1: the data card's (0 = this machine's)
  std::string llm_endpoint;              // default: $RFLOW_LLM_ENDPOINT
  std::string llm_model = "default";
  std::string llm_key_env = "RFLOW_LLM_KEY";
  template <class V>
  void visit(V& v) {
    v("planner", planner, "rules (deterministic, no network) | llm (an OpenAI-compatible endpoint proposes the settings)");
    v("out", out, "the plan's folder: run.toml, search.toml, prompt.txt, plan.json, the study (default plans/<data>_<model>)");
    v("studies", studies, "where earlier plans are looked for to warm-start from (default: the folder above --out)");
    v("neighbours", neighbours, "earlier plans (nearest data cards, same model card) whose best settings are tried first");
    v("minutes", minutes, "the search's wall-clock budget (0 = the data card's budget.minutes)");
    v("memory_gb", memory_gb, "memory one trial may use (0 = the data card's budget.memory_gb)");
    v("cores", cores, "cores the search may use (-1 = the data card's budget.cores, 0 = this machine's)");
    v("llm_endpoint", llm_endpoint, "llm planner: the OpenAI-compatible base URL, e.g. http://localhost:8080/v1 (default $RFLOW_LLM_ENDPOINT)");
    v("llm_model", llm_model, "llm planner: the model name sent to the endpoint");
    v("llm_key_env", llm_key_env, "llm planner: the environment variable holding the API key (sent as a Bearer token)");
  }
};

}  // namespace rflow::automl
