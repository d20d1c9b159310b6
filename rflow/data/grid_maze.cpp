#include "rflow/data/grid_maze.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <sstream>

#include <torch/torch.h>

#include "rflow/core/error.h"

namespace rflow {

namespace {

const GridMaze::Cell kMoves[4] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}};

// Two routes of 12 moves around the block, over it or under it.
const char* kRing[] = {"###########", "#.........#", "#.#######.#", "#S#######G#",
                       "#.#######.#", "#.........#", "###########"};
// Four rooms joined by doors: from the top-left corner to the bottom-right one, through either
// neighbouring room, with many ties inside each room.
const char* kRooms[] = {"###########", "#S...#....#", "#.........#", "#....#....#", "#....#....#", "##.#####.##",
                        "#....#....#", "#....#....#", "#.........#", "#....#...G#", "###########"};

class MazeDemos : public Distribution {
 public:
  MazeDemos(GridMaze maze, int64_t horizon) : maze_(std::move(maze)), horizon_(horizon) {
    for (auto c : maze_.free_cells())
      if (c != maze_.goal() && maze_.distance(c) > 0) cells_.push_back(c);
    RF_CHECK(!cells_.empty(), "no cell of the maze leads to the goal", "data.target.maze.layout", "");
    best_.resize(static_cast<size_t>(maze_.width()) * maze_.height());
    for (auto c : maze_.free_cells()) best_[c.second * maze_.width() + c.first] = maze_.best_moves(c);
  }
  Draw draw(int64_t n, const at::Generator& rng) override {
    at::Tensor actions = torch::zeros({n, horizon_, 2});
    at::Tensor obs = torch::empty({n, 2});
    // All random draws at once: a start cell per sample and a uniform per move for the ties.
    const at::Tensor pick = torch::randint(static_cast<int64_t>(cells_.size()), {n}, rng, torch::kInt64);
    const at::Tensor tie = torch::rand({n, horizon_}, rng);
    const auto p = pick.accessor<int64_t, 1>();
    const auto u = tie.accessor<float, 2>();
    auto a = actions.accessor<float, 3>();
    auto o = obs.accessor<float, 2>();
    for (int64_t i = 0; i < n; ++i) {
      GridMaze::Cell c = cells_[p[i]];
      const auto ob = maze_.observe(c);
      o[i][0] = ob[0], o[i][1] = ob[1];
      for (int64_t h = 0; h < horizon_ && c != maze_.goal(); ++h) {
        const auto& next = best_[c.second * maze_.width() + c.first];
        const size_t k = std::min(next.size() - 1, static_cast<size_t>(u[i][h] * next.size()));
        const auto& m = next[k];
        a[i][h][0] = static_cast<float>(m.first - c.first);
        a[i][h][1] = static_cast<float>(m.second - c.second);
        c = m;
      }
    }
    Draw d{actions, {}};
    d.cond.extra["obs"] = obs;
    return d;
  }
  std::vector<int64_t> sample_shape() const override { return {horizon_, 2}; }
  std::string describe() const override {
    return "maze " + std::to_string(maze_.width()) + "×" + std::to_string(maze_.height()) + ", " +
           std::to_string(maze_.shortest_routes()) + " shortest routes, chunks of " + std::to_string(horizon_);
  }
  int64_t obs_dim() const override { return 2; }

 private:
  GridMaze maze_;
  int64_t horizon_;
  std::vector<GridMaze::Cell> cells_;
  std::vector<std::vector<GridMaze::Cell>> best_;  // best moves of each cell (row-major)
};

}  // namespace

void MazeOptions::validate(const std::string& where) const {
  RF_CHECK(horizon >= 1 && horizon <= 64, "horizon must be in [1, 64]", where + ".horizon", "");
  GridMaze::named(layout);  // throws naming the problem
}

GridMaze::GridMaze(std::vector<std::string> rows) : rows_(std::move(rows)) {
  const std::string where = "maze layout";
  RF_CHECK(!rows_.empty() && !rows_[0].empty(), "the maze has no rows", where, "rows of # . S G");
  height_ = static_cast<int>(rows_.size());
  width_ = static_cast<int>(rows_[0].size());
  RF_CHECK(width_ <= 256 && height_ <= 256, "mazes are at most 256 × 256", where, "");
  for (int r = 0; r < height_; ++r) {
    RF_CHECK(static_cast<int>(rows_[r].size()) == width_, "row " + std::to_string(r) + " is not " +
                                                              std::to_string(width_) + " wide", where, "");
    for (int c = 0; c < width_; ++c) {
      const char ch = rows_[r][c];
      RF_CHECK(ch == '#' || ch == '.' || ch == 'S' || ch == 'G', std::string("unknown cell '") + ch + "'", where,
               "use # (wall), . (free), S (start), G (goal)");
      if (ch == 'S') start_ = {c, r};
      if (ch == 'G') goal_ = {c, r};
    }
  }
  RF_CHECK(start_.first >= 0 && goal_.first >= 0, "the maze needs one S and one G", where, "");
  // Distances to the goal, breadth first.
  dist_.assign(width_ * height_, -1);
  std::deque<Cell> q{goal_};
  dist_[goal_.second * width_ + goal_.first] = 0;
  while (!q.empty()) {
    const Cell c = q.front();
    q.pop_front();
    for (const auto& m : kMoves) {
      const Cell n{c.first + m.first, c.second + m.second};
      if (free(n) && dist_[n.second * width_ + n.first] < 0) {
        dist_[n.second * width_ + n.first] = dist_[c.second * width_ + c.first] + 1;
        q.push_back(n);
      }
    }
  }
  RF_CHECK(distance(start_) > 0, "the goal cannot be reached from the start", where, "");
}

GridMaze GridMaze::named(const std::string& layout) {
  std::vector<std::string> rows;
  if (layout == "ring") rows.assign(std::begin(kRing), std::end(kRing));
  else if (layout == "rooms") rows.assign(std::begin(kRooms), std::end(kRooms));
  else {
    std::stringstream in(layout);
    for (std::string row; std::getline(in, row, '/');) rows.push_back(row);
    RF_CHECK(rows.size() >= 2, "unknown maze layout '" + layout + "'", "maze.layout",
             "ring, rooms, or rows of # . S G joined by / (e.g. \"#####/#S.G#/#####\")");
  }
  return GridMaze(std::move(rows));
}

bool GridMaze::free(Cell c) const {
  return c.first >= 0 && c.second >= 0 && c.first < width_ && c.second < height_ && rows_[c.second][c.first] != '#';
}

int GridMaze::distance(Cell c) const { return free(c) ? dist_[c.second * width_ + c.first] : -1; }

std::vector<GridMaze::Cell> GridMaze::free_cells() const {
  std::vector<Cell> out;
  for (int r = 0; r < height_; ++r)
    for (int c = 0; c < width_; ++c)
      if (free({c, r})) out.push_back({c, r});
  return out;
}

std::vector<GridMaze::Cell> GridMaze::best_moves(Cell c) const {
  std::vector<Cell> out;
  const int d = distance(c);
  for (const auto& m : kMoves) {
    const Cell n{c.first + m.first, c.second + m.second};
    if (d > 0 && distance(n) == d - 1) out.push_back(n);
  }
  return out;
}

std::vector<float> GridMaze::observe(Cell c) const {
  auto scale = [](int v, int n) { return n > 1 ? 2.0f * v / (n - 1) - 1.0f : 0.0f; };
  return {scale(c.first, width_), scale(c.second, height_)};
}

GridMaze::Cell GridMaze::move_of(float dx, float dy) {
  if (std::abs(dx) < 0.5f && std::abs(dy) < 0.5f) return {0, 0};
  if (std::abs(dx) >= std::abs(dy)) return {dx > 0 ? 1 : -1, 0};
  return {0, dy > 0 ? 1 : -1};
}

int64_t GridMaze::shortest_routes() const {
  // Routes counted from the goal outwards: each cell's count is the sum over its best moves.
  std::vector<int64_t> count(width_ * height_, 0);
  count[goal_.second * width_ + goal_.first] = 1;
  std::vector<Cell> cells = free_cells();
  std::sort(cells.begin(), cells.end(), [&](Cell a, Cell b) { return distance(a) < distance(b); });
  for (const auto& c : cells)
    for (const auto& n : best_moves(c)) count[c.second * width_ + c.first] += count[n.second * width_ + n.first];
  return count[start_.second * width_ + start_.first];
}

DistributionEntry maze_entry() {
  return {"maze", [] { return AnyOptions::of<MazeOptions>(); },
          [](const DistributionConfig& c, const std::vector<int64_t>&, const std::string&) -> std::unique_ptr<Distribution> {
            const auto& o = c.get<MazeOptions>("maze");
            return std::make_unique<MazeDemos>(GridMaze::named(o.layout), o.horizon);
          }};
}

}  // namespace rflow
