// Closed-loop evaluation of a maze policy: every episode starts at the maze's S, asks the policy
// for an action chunk at its cell, carries out the first `execute` moves (each the unit step its
// action vector points to; a move into a wall is a collision and leaves the agent where it is),
// and asks again, until the goal or max_moves. Episodes run as one batch. Reports success, the
// routes taken (distinct ones and their entropy: one route is 0 bits, two equally often 1 bit)
// and the solver's NFE per action chunk.
#pragma once

#include <cstdint>
#include <vector>

#include "rflow/data/grid_maze.h"
#include "rflow/flow/velocity_field.h"
#include "rflow/solve/solver.h"

namespace rflow::eval {

struct RolloutOptions {
  int64_t episodes = 100;
  int64_t execute = 2;     // moves carried out from each chunk before asking again
  int64_t max_moves = 0;   // 0: three times the shortest route
  SolveOptions solve;      // how each chunk is sampled (solver, steps, ...)
  FieldOptions field;      // adaflow's η
};

struct RolloutResult {
  int64_t episodes = 0, successes = 0;
  double success_rate = 0;
  int64_t distinct_routes = 0;      // among successful episodes
  double route_entropy_bits = 0;    // of the successful episodes' routes
  double mean_nfe = 0;              // velocity evaluations per action chunk
  double chunks_per_episode = 0;
  double collisions_per_episode = 0;
  std::vector<std::vector<GridMaze::Cell>> paths;  // each episode's cells, start included
};

// policy: a field over action chunks [horizon, 2] conditioned on cond.extra["obs"] (the cell).
RolloutResult rollout_maze(VelocityFieldImpl& policy, const GridMaze& maze, const RolloutOptions& opt);

}  // namespace rflow::eval
