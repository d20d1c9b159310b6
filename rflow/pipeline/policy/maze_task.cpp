// The maze task: a policy drives the agent from the start in closed loop (eval/maze_rollout.h);
// success, distinct routes and NFE per action chunk, and a picture of every episode's path.
#include <torch/torch.h>

#include "rflow/data/grid_maze.h"
#include "rflow/eval/maze_rollout.h"
#include "rflow/pipeline/policy/maze_picture.h"
#include "rflow/pipeline/policy/policy_task.h"

namespace rflow {

namespace {

PolicyEvaluation maze_eval(LoadedModel& m, const PolicyEvalOptions& opt) {
  const auto& mo = m.cfg.data.target.get<MazeOptions>("maze");
  const GridMaze maze = GridMaze::named(mo.layout);
  eval::RolloutOptions ro;
  ro.episodes = opt.episodes, ro.execute = opt.execute, ro.solve = opt.solve, ro.field = opt.field;
  const eval::RolloutResult r = eval::rollout_maze(*m.model, maze, ro);
  PolicyEvaluation out;
  out.summary = {{"task", "maze"},
                 {"layout", mo.layout},
                 {"episodes", r.episodes},
                 {"success_rate", r.success_rate},
                 {"nfe_per_chunk", r.mean_nfe},
                 {"chunks_per_episode", r.chunks_per_episode},
                 {"distinct_routes", r.distinct_routes},
                 {"route_entropy_bits", r.route_entropy_bits},
                 {"shortest_routes_in_maze", maze.shortest_routes()},
                 {"collisions_per_episode", r.collisions_per_episode}};
  out.svg = maze_paths_svg(maze, r.paths);
  nlohmann::json paths = nlohmann::json::array();
  for (const auto& path : r.paths) {
    nlohmann::json cells = nlohmann::json::array();
    for (const auto& [col, row] : path) cells.push_back({col, row});
    paths.push_back(std::move(cells));
  }
  out.replay = {{"rows", maze.rows()}, {"paths", std::move(paths)}};
  return out;
}

}  // namespace

PolicyTaskEntry maze_task() {
  PolicyTaskEntry e;
  e.evaluate = maze_eval;
  e.columns = {{"success", "success_rate"},
               {"NFE per chunk", "nfe_per_chunk"},
               {"routes", "distinct_routes"},
               {"route entropy (bits)", "route_entropy_bits"},
               {"collisions per episode", "collisions_per_episode"}};
  e.measured = [](const PolicyEvalOptions& o) {
    return std::to_string(o.episodes) + " episodes from the start per row, " + std::to_string(o.execute) +
           " moves carried out from each action chunk; a route is an episode's sequence of cells.";
  };
  e.picture = "every episode's path: each shortest route in its own colour (the same in every picture of this maze)";
  return e;
}

}  // namespace rflow
