#include "rflow/eval/maze_rollout.h"

#include <cmath>
#include <map>

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow::eval {

RolloutResult rollout_maze(VelocityFieldImpl& policy, const GridMaze& maze, const RolloutOptions& opt) {
  const auto shape = policy.sample_shape();
  RF_CHECK(shape.size() == 2 && shape[1] == 2, "a maze policy's actions are chunks of 2-D moves [horizon, 2]",
           "rollout_maze", "train it on data.target.name = maze");
  const int64_t horizon = shape[0];
  RF_CHECK(opt.episodes >= 1 && opt.execute >= 1 && opt.execute <= horizon,
           "episodes >= 1 and 1 <= execute <= the chunk's " + std::to_string(horizon) + " moves", "rollout_maze", "");
  const int64_t max_moves = opt.max_moves > 0 ? opt.max_moves : 3 * maze.distance(maze.start());
  torch::NoGradGuard ng;
  const int64_t B = opt.episodes;
  RolloutResult res;
  res.episodes = B;
  res.paths.assign(B, {maze.start()});
  std::vector<GridMaze::Cell> pos(B, maze.start());
  std::vector<int64_t> moves(B, 0), collisions(B, 0);
  std::vector<bool> done(B, false);
  int64_t chunks = 0, nfe = 0;
  for (;;) {
    std::vector<int64_t> active;
    for (int64_t i = 0; i < B; ++i)
      if (!done[i] && moves[i] < max_moves) active.push_back(i);
    if (active.empty()) break;
    const int64_t n = static_cast<int64_t>(active.size());
    at::Tensor obs = torch::empty({n, 2});
    auto ob = obs.accessor<float, 2>();
    for (int64_t j = 0; j < n; ++j) {
      const auto o = maze.observe(pos[active[j]]);
      ob[j][0] = o[0], ob[j][1] = o[1];
    }
    Cond cond;
    cond.extra["obs"] = obs;
    const SolveResult r = solve(policy, torch::randn({n, horizon, 2}), opt.solve, cond, opt.field);
    chunks += n;
    nfe += r.nfe.sum().item<int64_t>();
    const at::Tensor a = r.x.contiguous();
    const auto acc = a.accessor<float, 3>();
    for (int64_t j = 0; j < n; ++j) {
      const int64_t i = active[j];
      for (int64_t e = 0; e < opt.execute && !done[i] && moves[i] < max_moves; ++e) {
        const auto m = GridMaze::move_of(acc[j][e][0], acc[j][e][1]);
        const GridMaze::Cell next{pos[i].first + m.first, pos[i].second + m.second};
        ++moves[i];
        if (maze.free(next)) pos[i] = next;
        else ++collisions[i];
        if (res.paths[i].back() != pos[i]) res.paths[i].push_back(pos[i]);
        done[i] = pos[i] == maze.goal();
      }
    }
  }
  std::map<std::vector<GridMaze::Cell>, int64_t> routes;
  int64_t total_collisions = 0;
  for (int64_t i = 0; i < B; ++i) {
    total_collisions += collisions[i];
    if (done[i]) ++res.successes, ++routes[res.paths[i]];
  }
  res.success_rate = double(res.successes) / B;
  res.distinct_routes = static_cast<int64_t>(routes.size());
  for (const auto& [route, count] : routes) {
    const double p = double(count) / res.successes;
    res.route_entropy_bits -= p * std::log2(p);
  }
  res.mean_nfe = chunks ? double(nfe) / chunks : 0.0;
  res.chunks_per_episode = double(chunks) / B;
  res.collisions_per_episode = double(total_collisions) / B;
  return res;
}

}  // namespace rflow::eval
