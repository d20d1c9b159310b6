// GET /healthz: 200 {"status": "ok", "models": N} while the server answers — for load balancers
// and supervisors, so it needs no token.
#include "rflow/serve/endpoint.h"
#include "rflow/serve/served_models.h"

namespace rflow::serve {

namespace {

Response health(const Request&, ServeContext& ctx) {
  return Response::json({{"status", "ok"}, {"models", ctx.models.all().size()}});
}

}  // namespace

EndpointEntry health_endpoint() { return {"GET", health, /*open=*/true}; }

}  // namespace rflow::serve
