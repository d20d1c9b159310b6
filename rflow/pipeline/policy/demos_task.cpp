// Demonstrations from files (or any data set that draws observations without a task of its own):
// the policy answers each demonstrated observation open loop; NFE and squared error to the action.
#include <torch/torch.h>

#include "rflow/pipeline/policy/policy_task.h"

namespace rflow {

namespace {

PolicyEvaluation demos_eval(LoadedModel& m, const PolicyEvalOptions& opt) {
  const Draw demo = m.data->target().sample(opt.samples);
  const SolveResult r = solve(*m.model, m.data->source().sample(opt.samples).x, opt.solve, demo.cond, opt.field);
  const at::Tensor& actions = demo.x;
  PolicyEvaluation out;
  out.summary = {{"task", "demos (open loop)"},
                 {"samples", opt.samples},
                 {"nfe_mean", r.nfe.to(torch::kFloat64).mean().item<double>()},
                 {"mse_to_demonstration", (r.x - actions).pow(2).mean().item<double>()}};
  return out;
}

}  // namespace

PolicyTaskEntry demos_task() {
  PolicyTaskEntry e;
  e.evaluate = demos_eval;
  e.columns = {{"NFE", "nfe_mean"}, {"MSE to the demonstration", "mse_to_demonstration"}};
  e.measured = [](const PolicyEvalOptions& o) { return std::to_string(o.samples) + " demonstration rows, open loop."; };
  return e;
}

}  // namespace rflow
