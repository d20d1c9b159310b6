// The 1-D fork task: at observations from −10 to 10 the demonstrations branch (one action on one
// side, two on the other); NFE and actions per observation show where a policy spends its steps.
#include <torch/torch.h>

#include "rflow/io/svg.h"
#include "rflow/pipeline/policy/policy_task.h"

namespace rflow {

namespace {

PolicyEvaluation fork_eval(LoadedModel& m, const PolicyEvalOptions& opt) {
  PolicyEvaluation out;
  io::PointSet one{"1 step", {}, {}, "", 1.6, 0.5}, more{"more steps", {}, {}, "", 1.6, 0.5};
  nlohmann::json rows = nlohmann::json::array();
  double nfe_left = 0, nfe_right = 0;
  int left = 0, right = 0;
  for (int i = 0; i <= 20; ++i) {
    const float obs = -10.0f + i;
    Cond c;
    c.extra["obs"] = torch::full({opt.samples, 1}, obs);
    const SolveResult r = solve(*m.model, torch::randn({opt.samples, 1}), opt.solve, c, opt.field);
    const double nfe = r.nfe.to(torch::kFloat64).mean().item<double>();
    const at::Tensor y = r.x.view({-1});
    rows.push_back({{"obs", obs},
                    {"nfe_mean", nfe},
                    {"action_mean", y.mean().item<double>()},
                    {"action_abs_mean", y.abs().mean().item<double>()},
                    {"share_positive", (y > 0).to(torch::kFloat64).mean().item<double>()}});
    (obs <= 0 ? nfe_left : nfe_right) += nfe;
    ++(obs <= 0 ? left : right);
    for (int64_t j = 0; j < opt.samples; ++j) {
      auto& set = r.nfe[j].item<int64_t>() <= 1 ? one : more;
      set.x.push_back(obs + 0.3 * (double(j) / opt.samples - 0.5));
      set.y.push_back(y[j].item<double>());
    }
  }
  out.summary = {{"task", "fork1d"},
                 {"nfe_mean_obs_le_0", nfe_left / left},
                 {"nfe_mean_obs_gt_0", nfe_right / right},
                 {"per_obs", rows}};
  io::PlotOptions po;
  po.title = "actions by observation (" + opt.solve.method + ")";
  po.xlabel = "observation";
  po.ylabel = "action";
  out.svg = io::svg_scatter({more, one}, po);  // the one-step dots on top
  return out;
}

}  // namespace

PolicyTaskEntry fork1d_task() {
  PolicyTaskEntry e;
  e.evaluate = fork_eval;
  e.columns = {{"NFE, obs ≤ 0", "nfe_mean_obs_le_0"}, {"NFE, obs > 0", "nfe_mean_obs_gt_0"}};
  e.measured = [](const PolicyEvalOptions& o) {
    return std::to_string(o.samples) + " actions at each observation from −10 to 10.";
  };
  e.picture = "actions by observation";
  return e;
}

}  // namespace rflow
