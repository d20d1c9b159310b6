// GET /metrics: the server's counters in Prometheus' text format (serve_metrics.h); open like
// /healthz, so a scraper needs no token.
#include "rflow/serve/batcher.h"
#include "rflow/serve/endpoint.h"
#include "rflow/serve/serve_metrics.h"
#include "rflow/serve/served_models.h"

namespace rflow::serve {

namespace {

Response metrics(const Request&, ServeContext& ctx) {
  std::string text = ctx.metrics.prometheus_text();
  // Dynamic batching: how many solves answered how many requests (their ratio is the mean batch).
  std::string solves, requests;
  for (const auto& m : ctx.models.all()) {
    if (!m->batcher) continue;
    const auto [s, r] = m->batcher->solves_and_requests();
    solves += "rflow_batched_solves_total{model=\"" + m->name + "\"} " + std::to_string(s) + "\n";
    requests += "rflow_batched_requests_total{model=\"" + m->name + "\"} " + std::to_string(r) + "\n";
  }
  if (!solves.empty())
    text += "# HELP rflow_batched_solves_total Merged solves run.\n# TYPE rflow_batched_solves_total counter\n" + solves +
            "# HELP rflow_batched_requests_total Requests those solves answered.\n# TYPE rflow_batched_requests_total counter\n" +
            requests;
  return {200, text, "text/plain; version=0.0.4"};
}

}  // namespace

EndpointEntry metrics_endpoint() { return {"GET", metrics, /*open=*/true}; }

}  // namespace rflow::serve
