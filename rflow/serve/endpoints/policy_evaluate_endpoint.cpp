// POST /v1/policy/evaluate {model, episodes, execute, samples, seed, solver, steps, eta, ...}: what
// `rflow policy eval` measures, over HTTP — the policy's task (the maze in closed loop, the 1-D
// fork, open-loop demonstrations) with its summary, its picture (SVG) and, for the maze, every
// episode's cells so a client (the page at /) can watch the agent walk.
#include <mutex>

#include <torch/torch.h>

#include "rflow/pipeline/policy/policy_eval.h"
#include "rflow/pipeline/policy/policy_task.h"
#include "rflow/serve/endpoint.h"
#include "rflow/serve/request_fields.h"
#include "rflow/serve/serve_metrics.h"
#include "rflow/serve/serve_options.h"
#include "rflow/serve/solve_request.h"

namespace rflow::serve {

namespace {

Response evaluate(const Request& req, ServeContext& ctx) {
  const nlohmann::json body = solve_body(req, {"episodes", "execute", "samples"});
  ServedModel& sm = requested_model(body, ctx.models);
  const InProgress counted(sm);
  if (sm.kind != "policy")
    throw HttpError(400, "'" + sm.name + "' is not a policy", "request field 'model'", "POST /v1/sample draws from it");
  const SolveRequest sr = solve_request(body, sm.m, ctx.options);
  PolicyEvalOptions opt;
  opt.solve = sr.solve, opt.field = sr.field;
  opt.seed = static_cast<int64_t>(sr.seed & 0x7fffffffffffffffULL);
  opt.episodes = int_field(body, "episodes", std::min<int64_t>(16, ctx.options.max_n), 1, ctx.options.max_n);
  opt.execute = int_field(body, "execute", opt.execute, 1, 64);
  opt.samples = int_field(body, "samples", std::min<int64_t>(64, ctx.options.max_n), 1, ctx.options.max_n);
  PolicyEvaluation e;
  {
    // The evaluation seeds the global generator (as `rflow policy eval` does): one at a time in this
    // process, so the same request gives the same episodes.
    static std::mutex global_rng;
    std::lock_guard<std::mutex> rng(global_rng);
    std::lock_guard<std::mutex> lock(sm.solving);
    e = evaluate_policy(sm.m, opt);
  }
  ctx.metrics.sampled(sm.name, opt.episodes);
  return Response::json({{"model", sm.name},
                         {"task", policy_task_name(sm.m.cfg.data.target.name)},
                         {"summary", e.summary},
                         {"svg", e.svg},
                         {"replay", e.replay}});
}

}  // namespace

EndpointEntry policy_evaluate_endpoint() { return {"POST", evaluate}; }

}  // namespace rflow::serve
