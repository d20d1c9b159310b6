// POST /v1/policy/act {model, observations, seed, solver, steps, eta, ...}: a policy's action chunk
// for each observation (a list of obs_dim numbers, or a list of such lists), with the NFE each
// took — the control-loop step of `rflow policy act` over HTTP.
#include <torch/torch.h>

#include "rflow/serve/endpoint.h"
#include "rflow/serve/request_fields.h"
#include "rflow/serve/serve_options.h"
#include "rflow/serve/solve_request.h"

namespace rflow::serve {

namespace {

Response act(const Request& req, ServeContext& ctx) {
  const nlohmann::json body = solve_body(req, {"observations"});
  ServedModel& sm = requested_model(body, ctx.models);
  const InProgress counted(sm);
  const int64_t obs_dim = sm.m.data->target().obs_dim();
  if (obs_dim == 0)
    throw HttpError(400, "'" + sm.name + "' is not a policy", "request field 'model'", "POST /v1/sample draws from it");
  const at::Tensor obs = rows_field(body, "observations", obs_dim, ctx.options.max_n);
  const int64_t n = obs.size(0);
  const SolveRequest sr = solve_request(body, sm.m, ctx.options);
  Cond cond;
  cond.extra["obs"] = obs;
  const std::vector<int64_t> shape = sm.m.model->sample_shape();
  double secs = 0;
  const SolveResult r = solve_counted(ctx, sm, request_noise(n, shape, sr.seed), cond, sr, secs);
  nlohmann::json out = solve_summary(r);
  out["model"] = sm.name;
  out["action_shape"] = shape;
  out["actions"] = rows_json(r.x);
  Response res = Response::json(out);
  res.headers["X-Rflow-Seconds"] = std::to_string(secs);
  return res;
}

}  // namespace

EndpointEntry policy_act_endpoint() { return {"POST", act}; }

}  // namespace rflow::serve
