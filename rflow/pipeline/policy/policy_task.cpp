#include "rflow/pipeline/policy/policy_task.h"

namespace rflow {

Registry<PolicyTaskEntry>& policy_tasks() {
  static Registry<PolicyTaskEntry> reg = [] {
    Registry<PolicyTaskEntry> r("policy task");
    r.add("maze", "closed loop in the grid maze: success rate, distinct routes, NFE per action chunk", maze_task());
    r.add("fork1d", "the 1-D fork: NFE and actions at observations from -10 to 10", fork1d_task());
    r.add("demos", "demonstrations from files, open loop: NFE and squared error to the demonstrated action",
          demos_task());
    return r;
  }();
  return reg;
}

std::string policy_task_name(const std::string& data) { return policy_tasks().contains(data) ? data : "demos"; }

const PolicyTaskEntry& policy_task(const std::string& data) { return policy_tasks().get(policy_task_name(data)); }

}  // namespace rflow
