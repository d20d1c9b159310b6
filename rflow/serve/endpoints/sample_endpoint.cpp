// POST /v1/sample {model, n, solver, steps, rtol, atol, guidance, eta, seed, labels | label, prompt,
// format}: n samples of a served field. Points come back as JSON rows; images as a PNG grid
// (format "png", the default for images), an .npy array ("npy") or JSON rows ("json"); NFE per
// sample in the JSON (X-Rflow-Nfe-Mean beside a PNG or .npy). The noise comes from the seed alone:
// the same request gives the same bytes.
#include <chrono>

#include <torch/torch.h>

#include "rflow/data/prompt_batch.h"
#include "rflow/io/image_file.h"
#include "rflow/io/npy.h"
#include "rflow/serve/endpoint.h"
#include "rflow/serve/request_fields.h"
#include "rflow/serve/serve_metrics.h"
#include "rflow/serve/serve_options.h"
#include "rflow/serve/solve_request.h"

namespace rflow::serve {

namespace {

// Class labels: "labels" (one per sample, or one for all), "label" (one for all), else each class
// in turn; −1 is the unconditional sample. Refused for a model without classes.
at::Tensor labels_of(const nlohmann::json& body, const LoadedModel& m, int64_t n) {
  const int64_t classes = m.cfg.model.num_classes;
  const bool given = body.contains("labels") || body.contains("label");
  if (classes == 0) {
    if (given) throw HttpError(400, "this model has no classes", "request field 'labels'", "leave labels out");
    return {};
  }
  std::vector<int64_t> labels;
  if (body.contains("labels")) {
    const auto& v = body["labels"];
    if (!v.is_array() || (v.size() != 1 && static_cast<int64_t>(v.size()) != n))
      throw HttpError(400, "must be a list of one label or n labels", "request field 'labels'", "");
    for (const auto& l : v) {
      if (!l.is_number_integer() || l.get<int64_t>() < -1 || l.get<int64_t>() >= classes)
        throw HttpError(400, "labels are classes 0 … " + std::to_string(classes - 1) + " (or −1: none)",
                        "request field 'labels'", "");
      labels.push_back(l.get<int64_t>());
    }
  } else if (body.contains("label")) {
    labels.push_back(int_field(body, "label", -1, -1, classes - 1));
  }
  at::Tensor out = torch::remainder(torch::arange(n, torch::kInt64), classes);
  if (labels.size() == 1) out.fill_(labels[0]);
  if (static_cast<int64_t>(labels.size()) == n && n > 1) out = torch::tensor(labels, torch::kInt64);
  return out;
}

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
  const nlohmann::json body = parse_body(req);
  std::set<std::string> known = solve_fields();
  known.insert({"model", "n", "labels", "label", "prompt", "format"});
  refuse_unknown_fields(body, known);
  ServedModel& sm = ctx.models.get(string_field(body, "model", "", 256));
  const InProgress counted(sm);
  if (sm.kind == "policy")
    throw HttpError(400, "'" + sm.name + "' is a policy: it acts on observations", "request field 'model'", "POST /v1/policy/act");
  const int64_t n = int_field(body, "n", 1, 1, ctx.options.max_n);
  const SolveRequest sr = solve_request(body, sm.m, ctx.options);
  const auto prompts = strings_field(body, "prompt", static_cast<size_t>(n), static_cast<size_t>(ctx.options.max_prompt_chars));
  auto [cond, shape] = prompts_of(prompts, sm.m, n);
  cond.labels = labels_of(body, sm.m, n);
  const bool images = shape.size() == 3;
  const std::string format = string_field(body, "format", images ? "png" : "json", 8);
  if (format != "json" && format != "npy" && (format != "png" || !images))
    throw HttpError(400, "unknown format '" + format + "'", "request field 'format'",
                    images ? "png, npy or json" : "json or npy (points have no picture)");
  const auto t0 = std::chrono::steady_clock::now();
  const SolveResult r = solve_for_request(sm, request_noise(n, shape, sr.seed), cond, sr);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ctx.metrics.sampled(sm.name, n);
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
