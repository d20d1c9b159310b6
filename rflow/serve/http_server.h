// `rflow serve`'s HTTP side (cpp-httplib): every request goes to handle() (endpoint.h) with its
// body, query and Authorization header; bodies over the limit get 413 before they are read; the
// served metrics count each answer. Runs until SIGTERM or SIGINT, then stops accepting, lets the
// requests in flight finish and returns.
#pragma once

#include <functional>

#include "rflow/serve/serve_options.h"
#include "rflow/serve/served_models.h"

namespace rflow::serve {

// Blocks SIGTERM and SIGINT in the calling thread and so in every thread started after it: call it
// before anything starts threads (loading a model may start LibTorch's OpenMP pool, whose threads
// would otherwise take the signal and end the process without draining). run_server calls it too.
void block_stop_signals();

// Blocks while serving; on_listening(port) runs once the socket is bound (port 0 binds any free one).
// Throws rflow::Error when the address cannot be bound (in use, not this machine's).
void run_server(ServedModels& models, const ServeOptions& opt, const std::function<void(int port)>& on_listening);

}  // namespace rflow::serve
