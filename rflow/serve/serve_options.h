// What `rflow serve` listens on and the limits every request is held to. One struct, visited for
// the CLI flags (rflow serve --help) and checked once before the server starts.
#pragma once

#include <cstdint>
#include <string>

namespace rflow::serve {

struct ServeOptions {
  std::string host = "127.0.0.1";  // loopback unless the user opens it
  int64_t port = 8080;             // 0: any free port (printed at start)
  std::string token;               // non-empty: every /v1 request needs "Authorization: Bearer <token>"
  int64_t max_n = 1024;            // samples (or observations) per request
  int64_t max_steps = 1000;        // solver steps per request
  int64_t max_body_kb = 4096;      // request body
  int64_t max_prompt_chars = 512;  // each prompt
  int64_t workers = 32;            // connections served at once (a kept-alive connection holds one)
  double timeout_s = 60.0;         // reading a request, writing a response
  double batch_wait_ms = 2.0;      // dynamic batching: how long a request waits for others like it (0 = off)
  int64_t max_batch = 1024;        // samples per merged solve
  int64_t max_queue = 8192;        // samples waiting per model; more get 503
  int64_t max_exact_dims = 64;     // likelihood: exact divergence (one backward pass per dimension) up to this size

  template <class V>
  void visit(V& v) {
    v("host", host, "address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface)");
    v("port", port, "port (0 = any free one, printed at start)");
    v("token", token, "bearer token every /v1 request must carry (empty = none)");
    v("max_n", max_n, "most samples or observations one request may ask for");
    v("max_steps", max_steps, "most solver steps one request may ask for");
    v("max_body_kb", max_body_kb, "largest request body, KiB");
    v("max_prompt_chars", max_prompt_chars, "longest prompt, characters");
    v("workers", workers, "connections served at once");
    v("timeout_s", timeout_s, "seconds to read a request or write a response");
    v("batch_wait_ms", batch_wait_ms, "dynamic batching: ms a request waits to be merged with others like it (0 = each solved alone)");
    v("max_batch", max_batch, "most samples in one merged solve");
    v("max_queue", max_queue, "most samples waiting per model; beyond it requests get 503 with Retry-After");
    v("max_exact_dims", max_exact_dims, "likelihood: largest sample (numbers) whose divergence may be exact (one backward pass per number); larger ones take hutchinson");
  }
  void validate(const std::string& where) const;
};

}  // namespace rflow::serve
