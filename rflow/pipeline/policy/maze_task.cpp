// The maze task: a policy drives the agent from the start in closed loop (eval/maze_rollout.h);
// success, distinct routes and NFE per action chunk, and a picture of every episode's path.
#include <algorithm>
#include <map>
#include <sstream>

#include <torch/torch.h>

#include "rflow/data/grid_maze.h"
#include "rflow/eval/maze_rollout.h"
#include "rflow/io/svg.h"
#include "rflow/pipeline/policy/policy_task.h"
#include "rflow/pipeline/report/report_parts.h"

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
  return out;
}

}  // namespace

std::string maze_paths_svg(const GridMaze& maze, const std::vector<std::vector<std::pair<int, int>>>& paths) {
  const int cell = 28, w = maze.width() * cell, h = maze.height() * cell;
  std::ostringstream s;
  s.imbue(std::locale::classic());
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h << "\" viewBox=\"0 0 " << w
    << " " << h << "\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>";
  for (int r = 0; r < maze.height(); ++r)
    for (int c = 0; c < maze.width(); ++c)
      if (!maze.free({c, r}))
        s << "<rect x=\"" << c * cell << "\" y=\"" << r * cell << "\" width=\"" << cell << "\" height=\"" << cell
          << "\" fill=\"#444\"/>";
  // Routes ranked by how often they were taken; each episode slightly offset so overlaps show.
  std::map<std::vector<std::pair<int, int>>, int> count;
  for (const auto& p : paths) ++count[p];
  std::vector<std::pair<int, std::vector<std::pair<int, int>>>> ranked;
  for (const auto& [p, n] : count) ranked.push_back({n, p});
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::map<std::vector<std::pair<int, int>>, size_t> colour;
  for (size_t i = 0; i < ranked.size(); ++i) colour[ranked[i].second] = i;
  for (size_t e = 0; e < paths.size(); ++e) {
    const double off = (double(e % 9) - 4.0) * 1.2;
    s << "<polyline fill=\"none\" stroke-width=\"1.5\" stroke-opacity=\"0.5\" stroke=\""
      << io::palette(colour[paths[e]]) << "\" points=\"";
    for (const auto& [c, r] : paths[e]) s << short_number((c + 0.5) * cell + off) << "," << short_number((r + 0.5) * cell + off) << " ";
    s << "\"/>";
  }
  auto mark = [&](std::pair<int, int> c, const char* label, const char* color) {
    s << "<circle cx=\"" << (c.first + 0.5) * cell << "\" cy=\"" << (c.second + 0.5) * cell << "\" r=\"9\" fill=\""
      << color << "\"/><text x=\"" << (c.first + 0.5) * cell << "\" y=\"" << (c.second + 0.5) * cell + 4
      << "\" font-size=\"11\" font-family=\"sans-serif\" text-anchor=\"middle\" fill=\"#fff\">" << label << "</text>";
  };
  mark(maze.start(), "S", "#2a7");
  mark(maze.goal(), "G", "#c33");
  s << "</svg>\n";
  return s.str();
}

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
  e.picture = "every episode's path (one colour per route)";
  return e;
}

}  // namespace rflow
