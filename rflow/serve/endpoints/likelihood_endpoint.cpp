// POST /v1/likelihood {model, points, labels | label, solver, steps, rtol, atol, guidance,
// divergence, probes, seed}: the model's log-density of each given point (or image, flattened) by
// the backward solve of the instantaneous change of variables, with bits per dimension and the
// NFE each took — `rflow eval --likelihood` over HTTP. Exact divergence costs one backward pass per
// number of a sample, so it is allowed up to max_exact_dims; larger samples take Hutchinson's.
#include <chrono>
#include <numeric>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "rflow/serve/endpoint.h"
#include "rflow/serve/request_fields.h"
#include "rflow/serve/serve_metrics.h"
#include "rflow/serve/serve_options.h"
#include "rflow/serve/solve_request.h"
#include "rflow/solve/likelihood.h"

namespace rflow::serve {

namespace {

// The divergence settings of the request, refused where the model's samples are too large for
// the exact one.
LikelihoodOptions divergence_of(const nlohmann::json& body, int64_t dims, const ServeOptions& limits) {
  LikelihoodOptions lo;
  lo.divergence = string_field(body, "divergence", dims <= limits.max_exact_dims ? "exact" : "hutchinson", 16);
  if (lo.divergence != "exact" && lo.divergence != "hutchinson")
    throw HttpError(400, "unknown divergence '" + lo.divergence + "'", "request field 'divergence'", "exact or hutchinson");
  if (lo.divergence == "exact" && dims > limits.max_exact_dims)
    throw HttpError(400, "exact divergence of " + std::to_string(dims) + " numbers per sample is over this server's limit of " +
                         std::to_string(limits.max_exact_dims), "request field 'divergence'",
                    "\"divergence\": \"hutchinson\" estimates it without bias (or start rflow serve with a larger --max_exact_dims)");
  lo.probes = int_field(body, "probes", 1, 1, 64);
  lo.validate("request");
  return lo;
}

// Solver settings as the request gives them; where it names no solver, the tight adaptive solve
// the eval stage scores likelihoods with (a fixed-step one is a poor density).
SolveRequest likelihood_solve(const nlohmann::json& body, const LoadedModel& m, const ServeOptions& limits) {
  SolveOptions defaults = m.cfg.sample.solve;
  if (!body.contains("solver")) defaults.method = "dopri5", defaults.rtol = defaults.atol = 1e-5;
  return solve_request(body, defaults, m.cfg.sample.field, limits);
}

Response likelihood(const Request& req, ServeContext& ctx) {
  const nlohmann::json body = solve_body(req, {"points", "labels", "label", "divergence", "probes"});
  ServedModel& sm = requested_model(body, ctx.models);
  const InProgress counted(sm);
  if (sm.kind == "policy" || sm.kind == "composites")
    throw HttpError(400, "the likelihood of '" + sm.name + "' (" + sm.kind + ") is not served", "request field 'model'",
                    "models of points or images have one");
  const std::vector<int64_t> shape = sm.m.model->sample_shape();
  const int64_t dims = std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
  const at::Tensor x = rows_field(body, "points", dims, ctx.options.max_n);
  const int64_t n = x.size(0);
  const SolveRequest sr = likelihood_solve(body, sm.m, ctx.options);
  LikelihoodOptions lo = divergence_of(body, dims, ctx.options);
  const c10::Device device = sm.device;
  // Hutchinson's probes come from the request's seed alone: the same request, the same numbers
  // (on a GPU from its global generator).
  if (device.is_cpu()) lo.generator = at::detail::createCPUGenerator(sr.seed);
  Cond cond;
  cond.labels = labels_field(body, sm.m.cfg.model.num_classes, n);
  std::vector<int64_t> full{n};
  full.insert(full.end(), shape.begin(), shape.end());
  Distribution& source = sm.m.data->source();
  const auto t0 = std::chrono::steady_clock::now();
  LikelihoodResult r;
  {
    std::lock_guard<std::mutex> lock(sm.solving);
    r = log_prob(wrap_field(*sm.m.model, cond.to(device), sr.field), x.view(full).to(device), sr.solve, lo,
                 [&](const at::Tensor& z) { return source.log_prob(z.cpu()).to(z.device()); });
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ctx.metrics.sampled(sm.name, n);
  r.solve.nfe = r.solve.nfe.cpu();
  nlohmann::json out = solve_summary(r.solve);
  const at::Tensor lp = r.log_p.cpu().to(torch::kFloat64).contiguous();
  const at::Tensor bpd = bits_per_dim(lp, dims).contiguous();
  out["model"] = sm.name;
  out["n"] = n;
  out["divergence"] = lo.divergence;
  out["log_p"] = std::vector<double>(lp.data_ptr<double>(), lp.data_ptr<double>() + n);
  out["bits_per_dim"] = std::vector<double>(bpd.data_ptr<double>(), bpd.data_ptr<double>() + n);
  out["mean_log_p"] = lp.mean().item<double>();
  if (!torch::isfinite(lp).all().item<bool>()) out["status"] = "non_finite";
  Response res = Response::json(out);
  res.headers["X-Rflow-Seconds"] = std::to_string(secs);
  return res;
}

}  // namespace

EndpointEntry likelihood_endpoint() { return {"POST", likelihood}; }

}  // namespace rflow::serve
