// Evaluation of a trained policy run, whatever its demonstrations: the maze in closed loop
// (success, routes, NFE per chunk, a picture of every episode's path), the 1-D fork toy across
// observations (NFE and actions per observation, a scatter of both), and demonstrations from
// files open loop (NFE and the squared error to the demonstrated action). What `rflow policy eval` prints.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "rflow/pipeline/run_context.h"
#include "rflow/solve/solver.h"

namespace rflow {

// How much of the task an evaluation covers; the solver (how actions are sampled) is set apart.
// visit() declares the settings once: `rflow policy eval | compare` flags are generated from it.
struct PolicyEvalOptions {
  SolveOptions solve;       // how actions are sampled (solver, steps)
  FieldOptions field;       // adaflow's η
  int64_t episodes = 100;   // maze
  int64_t execute = 2;      // maze: moves carried out per chunk
  int64_t samples = 200;    // fork1d: per observation; demos: rows
  int64_t seed = 0;

  template <class V>
  void visit(V& v) {
    v("episodes", episodes, "maze: episodes from the start");
    v("execute", execute, "maze: moves carried out from each action chunk");
    v("samples", samples, "fork1d: samples per observation; demos: rows");
    v("seed", seed, "seed of the noise and the episodes");
  }
  // Throws naming `where`.<key> for the first bad setting (the solver included).
  void validate(const std::string& where) const;
};

struct PolicyEvaluation {
  nlohmann::json summary;
  std::string svg;  // a picture where the task has one ("" otherwise)
  // What a viewer can play back step by step (the maze: its rows and every episode's cells);
  // null where the task has nothing to replay.
  nlohmann::json replay;
};

PolicyEvaluation evaluate_policy(LoadedModel& m, const PolicyEvalOptions& opt);

// One self-contained HTML page of an evaluation: what it measured, the picture, the training
// curves of the run, where it ran and its non-default config keys.
void write_policy_report(const LoadedModel& m, const PolicyEvaluation& e, const std::string& path);


}  // namespace rflow
