// `rflow serve`'s HTTP side (cpp-httplib): every request goes to handle() (endpoint.h) with its
// body, query and Authorization header; bodies over the limit get 413 before they are read; the
// served metrics count each answer. Runs until SIGTERM or SIGINT, then stops accepting, lets the
// requests in flight finish and returns.
#pragma once

#include <functional>

#include "rflow/serve/serve_options.h"
#include "rflow/serve/served_models.h"

namespace rflow::serve {

// Blocks while serving; on_listening(port) runs once the socket is bound (port 0 binds any free one).
// Throws rflow::Error when the address cannot be bound (in use, not this machine's).
void run_server(ServedModels& models, const ServeOptions& opt, const std::function<void(int port)>& on_listening);

}  // namespace rflow::serve
