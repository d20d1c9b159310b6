// Dynamic batching: concurrent requests for one model, with the same solver settings and sample
// shape, are merged into one solve. The solvers step each sample on its own (fixed steps, or
// per-sample adaptive steps), so every request gets the samples it would get alone, to float
// rounding (a larger batch may sum in another order). A worker thread per model takes the oldest
// request, waits up to `wait_ms` for more like it while more are on their way (up to `max_batch`
// samples), solves, and hands each its rows; a request that is alone is solved in its own thread at
// once. The queue is bounded: past `max_queue` waiting samples a request is refused with 503 and a
// Retry-After, never held in unbounded memory.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include <ATen/core/Tensor.h>

#include "rflow/flow/cond.h"
#include "rflow/serve/solve_request.h"

namespace rflow::serve {

struct BatchOptions {
  double wait_ms = 2.0;      // how long the oldest request waits for company (0: none, each solved alone)
  int64_t max_batch = 1024;  // samples per merged solve
  int64_t max_queue = 8192;  // samples waiting, beyond which requests get 503
};

class Batcher {
 public:
  Batcher(ServedModel& model, BatchOptions opt);
  ~Batcher();  // finishes what is queued, then stops
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;
  // The solve of x0 [n, ...] with cond under r's settings, merged with others where it can be.
  // Throws HttpError(503) when the queue is full.
  SolveResult solve(const at::Tensor& x0, const Cond& cond, const SolveRequest& r);
  // Requests and samples merged so far (for the metrics): solves run, requests answered.
  std::pair<int64_t, int64_t> solves_and_requests() const;

 private:
  struct Job {
    at::Tensor x0;
    Cond cond;
    SolveRequest settings;
    std::chrono::steady_clock::time_point arrived;
    std::promise<SolveResult> result;
  };
  void run();
  // The jobs that go with the oldest: same settings, shape and conditioning members.
  std::vector<std::unique_ptr<Job>> take_batch(std::unique_lock<std::mutex>& lock);
  void solve_batch(std::vector<std::unique_ptr<Job>>& batch);

  ServedModel& model_;
  BatchOptions opt_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Job>> queue_;
  int64_t queued_samples_ = 0, solves_ = 0, requests_ = 0;
  int64_t inline_solves_ = 0;  // lone requests being solved in their own thread
  bool worker_busy_ = false;   // the worker is solving a batch
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace rflow::serve
