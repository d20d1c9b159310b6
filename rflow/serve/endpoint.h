// An HTTP endpoint of `rflow serve` as a plain function from a request to a response, independent
// of the HTTP library: the server routes to it, tests and the fuzzer call it directly. A new
// endpoint is one file in endpoints/ plus one line in endpoints(). Errors are HttpError (an
// rflow::Error with a status), answered as {"error": {"message", "where", "hint"}}.
#pragma once

#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "rflow/core/error.h"
#include "rflow/core/registry.h"

namespace rflow::serve {

class ServedModels;
class ServeMetrics;
struct ServeOptions;

struct Request {
  std::string body;
  std::map<std::string, std::string> query;  // ?format=npy
  std::string authorization;                 // the Authorization header
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::map<std::string, std::string> headers;  // beside the body (X-Rflow-Nfe-Mean for a PNG)
  // Bytes of the request echoed in an answer (a path, a name) may not be UTF-8: they are replaced
  // by U+FFFD rather than failing the answer.
  static Response json(const nlohmann::json& j, int status = 200) {
    return {status, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json"};
  }
};

class HttpError : public Error {
 public:
  HttpError(int status, std::string what, std::string where = {}, std::string hint = {})
      : Error(std::move(what), std::move(where), std::move(hint)), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// The JSON error body of any exception (rflow::Error: its what / where / hint).
Response error_response(int status, const Error& e);

struct ServeContext {
  ServedModels& models;
  const ServeOptions& options;
  ServeMetrics& metrics;
};

struct EndpointEntry {
  std::string method;  // "GET" or "POST"
  std::function<Response(const Request&, ServeContext&)> handle;
  bool open = false;   // answered without the bearer token (health checks)
};
// Keyed by path ("/v1/sample").
Registry<EndpointEntry>& endpoints();

// Runs the endpoint of `path` (404 for none, 405 for another method, 401 without the token where
// one is set), turning every failure into its JSON error (HttpError: its status; an rflow::Error
// from the library: 400, the request asked for something it cannot do; anything else: 500).
Response handle(const std::string& method, const std::string& path, const Request& req, ServeContext& ctx);

// The shipped endpoints, each in endpoints/<name>.cpp.
EndpointEntry models_endpoint();
EndpointEntry sample_endpoint();
EndpointEntry policy_act_endpoint();
EndpointEntry policy_evaluate_endpoint();
EndpointEntry likelihood_endpoint();
EndpointEntry chat_endpoint();
EndpointEntry health_endpoint();
EndpointEntry metrics_endpoint();
EndpointEntry page_endpoint();

}  // namespace rflow::serve
