// GET /v1/models: every served model as GET clients need it before asking (name, kind, shapes,
// conditioning, default solver, fingerprint of the weights).
#include "rflow/serve/endpoint.h"
#include "rflow/serve/served_models.h"

namespace rflow::serve {

namespace {

Response models(const Request&, ServeContext& ctx) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& m : ctx.models.all()) list.push_back(m->describe());
  return Response::json({{"models", list}});
}

}  // namespace

EndpointEntry models_endpoint() { return {"GET", models}; }

}  // namespace rflow::serve
