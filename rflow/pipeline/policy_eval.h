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

class GridMaze;

struct PolicyEvalOptions {
  SolveOptions solve;       // how actions are sampled (solver, steps, eta)
  int64_t episodes = 100;   // maze
  int64_t execute = 2;      // maze: moves carried out per chunk
  int64_t samples = 200;    // fork1d: per observation; demos: rows
  uint64_t seed = 0;
};

struct PolicyEvaluation {
  nlohmann::json summary;
  std::string svg;  // a picture where the task has one ("" otherwise)
};

PolicyEvaluation evaluate_policy(LoadedModel& m, const PolicyEvalOptions& opt);

// One self-contained HTML page of an evaluation: what it measured, the picture, the training
// curves of the run, where it ran and its non-default config keys.
void write_policy_report(const LoadedModel& m, const PolicyEvaluation& e, const std::string& path);

// The maze with each episode's path drawn over it (paths of the same route share a colour).
std::string maze_paths_svg(const GridMaze& maze, const std::vector<std::vector<std::pair<int, int>>>& paths);

}  // namespace rflow
