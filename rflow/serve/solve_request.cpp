#include "rflow/serve/solve_request.h"

#include <chrono>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "rflow/serve/batcher.h"
#include "rflow/serve/endpoint.h"
#include "rflow/serve/request_fields.h"
#include "rflow/serve/serve_metrics.h"

namespace rflow::serve {

const std::set<std::string>& solve_fields() {
  static const std::set<std::string> f{"solver", "steps", "rtol", "atol", "guidance", "eta", "seed"};
  return f;
}

nlohmann::json solve_body(const Request& req, const std::set<std::string>& own) {
  nlohmann::json body = parse_body(req);
  std::set<std::string> known = solve_fields();
  known.insert(own.begin(), own.end());
  known.insert("model");
  refuse_unknown_fields(body, known);
  return body;
}

ServedModel& requested_model(const nlohmann::json& body, ServedModels& models) {
  return models.get(string_field(body, "model", "", 256));
}

SolveRequest solve_request(const nlohmann::json& body, const LoadedModel& m, const ServeOptions& limits) {
  return solve_request(body, m.cfg.sample.solve, m.cfg.sample.field, limits);
}

SolveRequest solve_request(const nlohmann::json& body, SolveOptions solve, FieldOptions field, const ServeOptions& limits) {
  SolveRequest r;
  r.solve = std::move(solve);
  r.field = std::move(field);
  r.solve.method = string_field(body, "solver", r.solve.method, 64);
  if (!solvers().contains(r.solve.method))
    throw HttpError(400, "unknown solver '" + r.solve.method + "'", "request field 'solver'", "solvers: " + solvers().joined());
  r.solve.steps = int_field(body, "steps", std::min(r.solve.steps, limits.max_steps), 1, limits.max_steps);
  r.solve.rtol = number_field(body, "rtol", r.solve.rtol, 1e-10, 1.0);
  r.solve.atol = number_field(body, "atol", r.solve.atol, 1e-10, 1.0);
  // An adaptive solve may not take more evaluations than the longest fixed-step one allowed.
  r.solve.max_nfe = 4 * limits.max_steps;
  r.field.guidance = number_field(body, "guidance", r.field.guidance, 0.0, 100.0);
  r.field.eta = number_field(body, "eta", r.field.eta, 0.0, 100.0);
  r.seed = seed_field(body, "seed");
  r.solve.validate("request");
  r.field.validate("request");
  return r;
}

at::Tensor request_noise(int64_t n, const std::vector<int64_t>& shape, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  std::vector<int64_t> s{n};
  s.insert(s.end(), shape.begin(), shape.end());
  return torch::randn(s, gen);
}

SolveResult solve_for_request(ServedModel& sm, const at::Tensor& x0, const Cond& cond, const SolveRequest& r) {
  return sm.batcher ? sm.batcher->solve(x0, cond, r) : solve_now(sm, x0, cond, r);
}

SolveResult solve_counted(ServeContext& ctx, ServedModel& sm, const at::Tensor& x0, const Cond& cond, const SolveRequest& r,
                          double& seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  SolveResult out = solve_for_request(sm, x0, cond, r);
  seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ctx.metrics.sampled(sm.name, x0.size(0));
  return out;
}

SolveResult solve_now(ServedModel& sm, const at::Tensor& x0, const Cond& cond, const SolveRequest& r) {
  std::lock_guard<std::mutex> lock(sm.solving);
  torch::NoGradGuard no_grad;
  SolveResult out = solve(*sm.m.model, x0.to(sm.device), r.solve, cond.to(sm.device), r.field);
  out.x = out.x.cpu();
  out.nfe = out.nfe.cpu();
  return out;
}

nlohmann::json rows_json(const at::Tensor& x) {
  const at::Tensor flat = x.flatten(1).to(torch::kFloat64).contiguous();
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t i = 0; i < flat.size(0); ++i)
    rows.push_back(std::vector<double>(flat[i].data_ptr<double>(), flat[i].data_ptr<double>() + flat.size(1)));
  return rows;
}

nlohmann::json solve_summary(const SolveResult& r) {
  const at::Tensor nfe = r.nfe.to(torch::kInt64).contiguous();
  std::vector<int64_t> per(nfe.data_ptr<int64_t>(), nfe.data_ptr<int64_t>() + nfe.numel());
  return {{"status", to_string(r.status)},
          {"nfe", per},
          {"nfe_mean", nfe.to(torch::kFloat64).mean().item<double>()}};
}

}  // namespace rflow::serve
