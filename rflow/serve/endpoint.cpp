#include "rflow/serve/endpoint.h"

#include <spdlog/spdlog.h>

#include "rflow/serve/serve_options.h"

namespace rflow::serve {

Registry<EndpointEntry>& endpoints() {
  static Registry<EndpointEntry> r = [] {
    Registry<EndpointEntry> e("endpoint");
    e.add("/v1/models", "GET: the served models (name, kind, shapes, conditioning, default solver, fingerprint)", models_endpoint());
    e.add("/v1/sample", "POST: samples of a model (points as JSON, images as PNG or .npy), NFE per sample", sample_endpoint());
    e.add("/v1/policy/act", "POST: a policy's action chunks for observations (the control-loop step)", policy_act_endpoint());
    e.add("/v1/policy/evaluate", "POST: a policy on its task (the maze in closed loop: success, routes, every episode's cells to replay)", policy_evaluate_endpoint());
    e.add("/v1/likelihood", "POST: the model's log-density of given points or images (backward solve), bits per dimension, NFE", likelihood_endpoint());
    e.add("/v1/chat", "POST: a text-to-image model's conversation (messages → each turn's reply, prompt and picture)", chat_endpoint());
    e.add("/healthz", "GET: 200 while the server answers", health_endpoint());
    e.add("/metrics", "GET: requests, latencies, samples and requests in flight (Prometheus text)", metrics_endpoint());
    e.add("/", "GET: a page to try the models in a browser (images, points, actions; NFE and latency)", page_endpoint());
    return e;
  }();
  return r;
}

Response error_response(int status, const Error& e) {
  Response r = Response::json({{"error", {{"message", e.message()}, {"where", e.where()}, {"hint", e.hint()}}}}, status);
  if (status == 503 || status == 429) r.headers["Retry-After"] = "1";
  return r;
}

Response handle(const std::string& method, const std::string& path, const Request& req, ServeContext& ctx) {
  if (!endpoints().contains(path))
    return error_response(404, Error("no such endpoint", path, "endpoints: " + endpoints().joined()));
  const EndpointEntry& e = endpoints().get(path);
  if (method != e.method) return error_response(405, Error(path + " takes " + e.method, method + " " + path, ""));
  if (!e.open && !ctx.options.token.empty() && req.authorization != "Bearer " + ctx.options.token)
    return error_response(401, Error("missing or wrong bearer token", "Authorization header",
                                     "send \"Authorization: Bearer <token>\" (the token rflow serve was given)"));
  try {
    return e.handle(req, ctx);
  } catch (const HttpError& err) {
    return error_response(err.status(), err);
  } catch (const Error& err) {
    return error_response(400, err);
  } catch (const std::exception& err) {
    spdlog::error("serve: {} {}: {}", method, path, err.what());
    return error_response(500, Error("internal error", path, "the server log has the details"));
  }
}

}  // namespace rflow::serve
