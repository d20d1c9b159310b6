// The models one `rflow serve` holds: each run or weight file named on the command line, loaded
// once (EMA weights) and known by its name; requests may name only these (never a path). Solves
// of one model are serialised (its network is not reentrant across threads); different models run
// side by side.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rflow/pipeline/run_context.h"

namespace rflow::serve {

class Batcher;
struct BatchOptions;

struct ServedModel {
  ServedModel();
  ~ServedModel();
  std::string name;         // the run directory's (or file's) name, made unique
  std::string kind;         // "points", "images", "composites" (text-to-image) or "policy"
  std::string fingerprint;  // of the weights, so clients can tell two versions apart
  LoadedModel m;
  c10::Device device{c10::kCPU};  // where its weights are (what each request's tensors move to)
  std::mutex solving;       // one solve at a time per model
  std::unique_ptr<Batcher> batcher;  // merges concurrent requests (null: each solved alone)
  // Requests for it being answered now (parsed, queued or solving): the batcher waits for company
  // only while some of them have not reached its queue yet.
  std::atomic<int64_t> requests_in_progress{0};
  // What GET /v1/models says about it: shapes, conditioning, default solver, fingerprint.
  nlohmann::json describe() const;
};

// Counts a request as in progress for its model while it lives.
class InProgress {
 public:
  explicit InProgress(ServedModel& m) : m_(m) { ++m_.requests_in_progress; }
  ~InProgress() { --m_.requests_in_progress; }
  InProgress(const InProgress&) = delete;
  InProgress& operator=(const InProgress&) = delete;

 private:
  ServedModel& m_;
};

class ServedModels {
 public:
  // Loads every path (a run, a checkpoint or a weight file); the first model is the default.
  ServedModels(const std::vector<std::string>& paths, c10::Device device);
  // The named model (empty: the first); unknown names are refused with the list of names.
  ServedModel& get(const std::string& name);
  const std::vector<std::unique_ptr<ServedModel>>& all() const { return models_; }
  // Gives every model a batcher (dynamic batching); wait_ms = 0 leaves each request alone.
  void enable_batching(const BatchOptions& opt);

 private:
  std::vector<std::unique_ptr<ServedModel>> models_;
};

}  // namespace rflow::serve
