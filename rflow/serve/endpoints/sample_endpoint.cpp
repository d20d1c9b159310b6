// POST /v1/sample {model, n, solver, steps, rtol, atol, guidance, eta, seed, labels | label, prompt,
// format}: n samples of a served field. Points come back as JSON rows; images as a PNG grid
// (format "png", the default for images), an .npy array ("npy") or JSON rows ("json"); NFE per
// sample in the JSON (X-Rflow-Nfe-Mean beside a PNG or .npy). The noise comes from the seed alone:
// the same request gives the same bytes.
#include <torch/torch.h>

#include "rflow/data/prompt_batch.h"
#include "rflow/io/image_file.h"
#include "rflow/io/npy.h"
#include "rflow/serve/endpoint.h"
#include "rflow/serve/request_fields.h"
#include "rflow/serve/serve_options.h"
#include "rflow/serve/solve_request.h"

namespace rflow::serve {

namespace {

// The prompts' token context (each prompt in turn; "" is the unconditional sample) and the shape
// they ask for (a composite caption names its layout). Refused for a model without text.
std::pair<Cond, std::vector<int64_t>> prompts_of(const std::vector<std::string>& prompts, const LoadedModel& m,
                                                 int64_t n) {
  const Distribution& target = m.data->target();
  if (target.context_len() == 0) {
    if (!prompts.empty()) throw HttpError(400, "this model reads no prompts", "request field 'prompt'", "leave prompt out");
    return {Cond{}, m.model->sample_shape()};
  }
  if (prompts.empty())
    throw HttpError(400, "a text-conditioned model needs a prompt", "request field 'prompt'",
                    "e.g. \"prompt\": \"a bag left of a sneaker\" (\"\" = unconditional)");
  const std::string where = "request field 'prompt'";
  const auto shape = shape_of_prompts(target, prompts, m.model->sample_shape(), where);
  return {prompts_in_turn(target, prompts, 0, n, where), shape};
}

Response answer(const std::string& format, const SolveResult& r, nlohmann::json summary, int64_t cols) {
  if (format == "png" || format == "npy") {
    Response out = format == "png" ? Response{200, io::encode_png(io::image_grid(r.x, cols), "sample"), "image/png"}
                                   : Response{200, io::encode_npy(r.x, "sample"), "application/octet-stream"};
    out.headers["X-Rflow-Nfe-Mean"] = std::to_string(summary["nfe_mean"].get<double>());
    return out;
  }
  summary["samples"] = rows_json(r.x);
  return Response::json(summary);
}

Response sample(const Request& req, ServeContext& ctx) {
  const nlohmann::json body = solve_body(req, {"n", "labels", "label", "prompt", "format"});
  ServedModel& sm = requested_model(body, ctx.models);
  const InProgress counted(sm);
  if (sm.kind == "policy")
    throw HttpError(400, "'" + sm.name + "' is a policy: it acts on observations", "request field 'model'", "POST /v1/policy/act");
  const int64_t n = int_field(body, "n", 1, 1, ctx.options.max_n);
  const SolveRequest sr = solve_request(body, sm.m, ctx.options);
  const auto prompts = strings_field(body, "prompt", static_cast<size_t>(n), static_cast<size_t>(ctx.options.max_prompt_chars));
  auto [cond, shape] = prompts_of(prompts, sm.m, n);
  cond.labels = labels_field(body, sm.m.cfg.model.num_classes, n);
  const bool images = shape.size() == 3;
  const std::string format = string_field(body, "format", images ? "png" : "json", 8);
  if (format != "json" && format != "npy" && (format != "png" || !images))
    throw HttpError(400, "unknown format '" + format + "'", "request field 'format'",
                    images ? "png, npy or json" : "json or npy (points have no picture)");
  double secs = 0;
  const SolveResult r = solve_counted(ctx, sm, request_noise(n, shape, sr.seed), cond, sr, secs);
  nlohmann::json summary = solve_summary(r);
  summary["model"] = sm.name;
  summary["n"] = n;
  summary["shape"] = shape;
  // A grid column per prompt (several), or per class when the labels cycle through them; else 8.
  const int64_t cols = prompts.size() > 1 ? static_cast<int64_t>(prompts.size())
                       : cond.labels.defined() && !body.contains("label") && !body.contains("labels") ? sm.m.cfg.model.num_classes
                                                                                                    : 8;
  Response out = answer(format, r, std::move(summary), std::min<int64_t>(cols, n));
  out.headers["X-Rflow-Seconds"] = std::to_string(secs);
  return out;
}

}  // namespace

EndpointEntry sample_endpoint() { return {"POST", sample}; }

}  // namespace rflow::serve
