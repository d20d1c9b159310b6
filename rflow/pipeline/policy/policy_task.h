// Policy tasks: what `rflow policy eval | compare` do with a policy, keyed by the data set it was
// trained on (data.target.name). Each entry evaluates a policy on its task and says which figures
// tell two policies apart. A new task is one file with its entry plus one line in policy_tasks();
// data sets without an entry of their own are judged open loop against their demonstrations.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "rflow/core/registry.h"
#include "rflow/pipeline/policy/policy_eval.h"

namespace rflow {

struct PolicyTaskEntry {
  std::function<PolicyEvaluation(LoadedModel&, const PolicyEvalOptions&)> evaluate;
  // The figures that tell policies apart on this task, as (table column, summary key).
  std::vector<std::pair<std::string, std::string>> columns;
  // One sentence: what each row of a comparison measured under these settings.
  std::function<std::string(const PolicyEvalOptions&)> measured;
  // Caption of the evaluation's picture ("" = the task draws none).
  std::string picture;
};

// Mutable: programs and tests may register their own tasks.
Registry<PolicyTaskEntry>& policy_tasks();
// The task of a policy trained on `data`: its own entry, else the open-loop "demos" entry.
std::string policy_task_name(const std::string& data);
const PolicyTaskEntry& policy_task(const std::string& data);

// The shipped tasks, one file each.
PolicyTaskEntry maze_task();    // closed loop in a grid maze: success, routes, NFE per chunk
PolicyTaskEntry fork1d_task();  // the 1-D fork: NFE and actions across observations
PolicyTaskEntry demos_task();   // any demonstrations, open loop: NFE and error to the demonstrated action

}  // namespace rflow
