// What a sampling request shares with an acting one: the solver settings it may change (bounded by
// the server's limits, defaulting to the model's own `sample.*`), the noise drawn from its seed
// alone (so the same request gives the same bytes), and the solve itself, one at a time per model.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rflow/serve/endpoint.h"
#include "rflow/serve/served_models.h"
#include "rflow/serve/serve_options.h"
#include "rflow/solve/solver.h"

namespace rflow::serve {

// Fields every solve request may carry: solver, steps, rtol, atol, guidance, eta, seed.
const std::set<std::string>& solve_fields();
// The body of a solve request: a JSON object with no fields but solve_fields(), "model" and `own`
// (a 400 names the first other one).
nlohmann::json solve_body(const Request& req, const std::set<std::string>& own);
// The served model the body's "model" names (absent: the first served one).
ServedModel& requested_model(const nlohmann::json& body, ServedModels& models);

struct SolveRequest {
  SolveOptions solve;
  FieldOptions field;
  uint64_t seed = 0;
};
// The request's solver settings over the model's defaults, validated (400 naming the field).
SolveRequest solve_request(const nlohmann::json& body, const LoadedModel& m, const ServeOptions& limits);
// The same over defaults of the endpoint's own (a likelihood's tight adaptive solve, chat's steps).
SolveRequest solve_request(const nlohmann::json& body, SolveOptions solve, FieldOptions field, const ServeOptions& limits);

// n draws of N(0, I) in `shape` from the seed alone.
at::Tensor request_noise(int64_t n, const std::vector<int64_t>& shape, uint64_t seed);

// The request's solve: through the model's batcher where batching is on (merged with others like
// it), else at once; the result on the CPU.
SolveResult solve_for_request(ServedModel& sm, const at::Tensor& x0, const Cond& cond, const SolveRequest& r);
// The request's solve as above, counted in the server's metrics; `seconds`: its wall time (for the
// X-Rflow-Seconds header).
SolveResult solve_counted(ServeContext& ctx, ServedModel& sm, const at::Tensor& x0, const Cond& cond, const SolveRequest& r,
                          double& seconds);
// The solve now, on the model's device, holding its lock (what the batcher runs).
SolveResult solve_now(ServedModel& sm, const at::Tensor& x0, const Cond& cond, const SolveRequest& r);

// Each sample of x [n, ...] flattened into a row of numbers (samples, actions as JSON).
nlohmann::json rows_json(const at::Tensor& x);

// {"status", "nfe" per sample, "nfe_mean"} of a solve: nothing that varies between two runs of the
// same request (its time goes in the X-Rflow-Seconds header).
nlohmann::json solve_summary(const SolveResult& r);

}  // namespace rflow::serve
