// A grid maze with several equally short routes from start to goal, and its demonstrations: from
// any free cell, the next moves of a shortest path to the goal, ties between equally short
// continuations broken at random (so the demonstrations branch exactly where the maze does).
// Observations are the cell (column, row) scaled to [−1, 1]; actions are chunks of `horizon`
// moves, each a unit step (±1, 0) or (0, ±1), (0, 0) once at the goal.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "rflow/data/distribution.h"

namespace rflow {

struct MazeOptions {
  std::string layout = "ring";  // a built-in layout, or rows of '#', '.', 'S', 'G' separated by '/'
  int64_t horizon = 4;          // moves per action chunk

  template <class V>
  void visit(V& v) {
    v("layout", layout, "maze: ring (two equally short routes around a block), rooms (four), or rows of # . S G joined by /");
    v("horizon", horizon, "maze: moves per action chunk");
  }
  void validate(const std::string& where) const;
};

class GridMaze {
 public:
  using Cell = std::pair<int, int>;  // (column, row)
  // Rows of '#' (wall), '.' (free), 'S' (start), 'G' (goal); all the same width.
  explicit GridMaze(std::vector<std::string> rows);
  static GridMaze named(const std::string& layout);  // "ring", "rooms" or rows joined by '/'

  int width() const { return width_; }
  int height() const { return height_; }
  Cell start() const { return start_; }
  Cell goal() const { return goal_; }
  bool free(Cell c) const;
  int distance(Cell c) const;  // moves to the goal (−1: unreachable)
  std::vector<Cell> free_cells() const;
  const std::vector<std::string>& rows() const { return rows_; }
  // The moves from c that shorten the way to the goal (several where routes split).
  std::vector<Cell> best_moves(Cell c) const;
  // Observation of a cell: (column, row) scaled to [−1, 1].
  std::vector<float> observe(Cell c) const;
  // The move an action vector means: the unit step along its larger coordinate ((0, 0) when both
  // are below 0.5 in size).
  static Cell move_of(float dx, float dy);
  // Shortest routes from start to goal.
  int64_t shortest_routes() const;

 private:
  std::vector<std::string> rows_;
  int width_ = 0, height_ = 0;
  Cell start_{-1, -1}, goal_{-1, -1};
  std::vector<int> dist_;
};

DistributionEntry maze_entry();

}  // namespace rflow
